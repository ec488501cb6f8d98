/* lstm_cell.c: LSTM forward and backpropagation through time over time-major [T, B, F] data,
 * with DL4J's gate layout, optional peepholes, masks and carried state: register-blocked
 * AVX-512 / AVX2 kernels (cblas_sgemm elsewhere) for the per-step products, cblas_sgemm for the
 * weight gradients, vectorised gate loops, and the batch split across worker threads. */
#include "lstm_cell.h"

#include <assert.h>
#include <cblas.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "activation.h"
#include "layer_util.h"
#include "rng.h"

const char *const lstm_layer_options[] = {"activation", "alpha", "has_bias", "forget_gate_bias",
                                           NULL};

/* ---- vector math ---------------------------------------------------------------------------
 * 8 floats per vector (GCC/Clang vector extensions): one AVX register in the AVX2 clone of the
 * gate loops, two SSE registers in the portable one. Vectors only ever pass through pointers,
 * so no function has a vector-typed parameter whose ABI depends on the target. exp is Cephes'
 * expf (range reduction by ln 2, degree-6 polynomial, about 1 ulp), so the sigmoid and tanh
 * built on it stay within 2e-7 absolute of the exact values. */

#define VL 8
typedef float vf __attribute__((vector_size(VL * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(VL * sizeof(int32_t))));

#define INLINE static inline __attribute__((always_inline))

/* The gate loops are compiled twice: for AVX2 + FMA (chosen at run time when the CPU has both)
 * and for the baseline target. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#include <immintrin.h>
#define HAVE_X86_KERNELS 1
#define AVX2_TARGET __attribute__((target("avx2,fma")))
#else
#define HAVE_X86_KERNELS 0
#endif

#define VSPLAT(x) ((vf){0} + (float)(x))
/* m ? a : b lane by lane (the lanes of a comparison result are all ones or zero) */
#define VSEL(m, a, b) ((vf)(((m) & (vi)(a)) | (~(m) & (vi)(b))))

INLINE void vld(vf *v, const float *p, int cnt)
{
    *v = VSPLAT(0);
    memcpy(v, p, (size_t)cnt * sizeof(float));
}

INLINE void vst(float *p, const vf *v, int cnt)
{
    memcpy(p, v, (size_t)cnt * sizeof(float));
}

/* *x = exp(*x) */
INLINE void vexp(vf *x)
{
    vf v = *x;
    v = VSEL(v < -87.0f, VSPLAT(-87.0f), v);
    v = VSEL(v > 88.0f, VSPLAT(88.0f), v);
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding and subtracting rounds to integer */
    vf r = (v * 1.44269504088896341f + magic) - magic;
    vf g = v - r * 0.693359375f - r * -2.12194440e-4f;
    vf p = VSPLAT(1.9875691500e-4f);
    p = p * g + 1.3981999507e-3f;
    p = p * g + 8.3334519073e-3f;
    p = p * g + 4.1665795894e-2f;
    p = p * g + 1.6666665459e-1f;
    p = p * g + 5.0000001201e-1f;
    p = p * (g * g) + g + 1.0f;
    vi e = (__builtin_convertvector(r, vi) + 127) << 23;
    *x = p * (vf)e;
}

/* *x = 1 / (1 + exp(-*x)) */
INLINE void vsigmoid(vf *x)
{
    vf e = -*x;
    vexp(&e);
    *x = 1.0f / (1.0f + e);
}

/* *x = tanh(*x) = 1 - 2 / (1 + exp(2x)) */
INLINE void vtanh(vf *x)
{
    vf e = *x + *x;
    vexp(&e);
    *x = 1.0f - 2.0f / (1.0f + e);
}

/* *x = act(*x) for the layer activation (never softmax or gelu: lstm_infer refuses them). */
INLINE void vact(activation_kind k, float alpha, vf *x)
{
    vf v = *x;
    switch (k) {
    case ACT_TANH:
        vtanh(x);
        return;
    case ACT_IDENTITY:
        return;
    case ACT_RELU:
        *x = VSEL(v > 0.0f, v, VSPLAT(0.0f));
        return;
    case ACT_LEAKYRELU:
        *x = VSEL(v > 0.0f, v, v * alpha);
        return;
    case ACT_ELU: {
        vf e = v;
        vexp(&e);
        *x = VSEL(v > 0.0f, v, (e - 1.0f) * alpha);
        return;
    }
    case ACT_SIGMOID:
        vsigmoid(x);
        return;
    case ACT_HARDSIGMOID:
        v = v * 0.2f + 0.5f;
        v = VSEL(v < 0.0f, VSPLAT(0.0f), v);
        *x = VSEL(v > 1.0f, VSPLAT(1.0f), v);
        return;
    case ACT_SOFTPLUS:
        /* log(1 + e^x), linear above 20, as activation.c */
        for (int j = 0; j < VL; j++)
            (*x)[j] = v[j] > 20.0f ? v[j] : log1pf(expf(v[j]));
        return;
    default:
        assert(!"activation refused by lstm_infer");
        return;
    }
}

/* *y = f'(x) computed from y = f(x) (valid for every activation lstm_infer accepts, alpha > 0). */
INLINE void vdact(activation_kind k, float alpha, vf *y)
{
    vf v = *y;
    switch (k) {
    case ACT_TANH:
        *y = 1.0f - v * v;
        return;
    case ACT_IDENTITY:
        *y = VSPLAT(1.0f);
        return;
    case ACT_RELU:
        *y = VSEL(v > 0.0f, VSPLAT(1.0f), VSPLAT(0.0f));
        return;
    case ACT_LEAKYRELU:
        *y = VSEL(v > 0.0f, VSPLAT(1.0f), VSPLAT(alpha));
        return;
    case ACT_ELU:
        *y = VSEL(v > 0.0f, VSPLAT(1.0f), v + alpha);
        return;
    case ACT_SIGMOID:
        *y = v * (1.0f - v);
        return;
    case ACT_HARDSIGMOID:
        *y = VSEL((v > 0.0f) & (v < 1.0f), VSPLAT(0.2f), VSPLAT(0.0f));
        return;
    case ACT_SOFTPLUS:
        for (int j = 0; j < VL; j++)
            (*y)[j] = -expm1f(-v[j]);
        return;
    default:
        assert(!"activation refused by lstm_infer");
        return;
    }
}

/* ---- gate loops ---------------------------------------------------------------------------- */

typedef struct cell_args {
    int64_t n;
    activation_kind act;
    float alpha;
    const float *bias;              /* [4n], or NULL (has_bias false) */
    const float *pf, *po, *pi;      /* peepholes [n] each, or NULL */
    float *ac;                      /* act(c) of the step [B, n] (training), or NULL */
    bool keep_gates;                /* training: write a, f, o, i over the pre-activations */
    bool avx2;                      /* run the AVX2 + FMA clone of the gate loops */
} cell_args;

/* One step for units [k, k + cnt) of one example: z holds the pre-activations (projections
 * without bias) of the row; cp the previous cell state; writes cn, h (and y when distinct). */
INLINE void fwd_chunk(const cell_args *A, float *z, const float *cp, float *cn, float *h,
                      float *y, float *ac, int64_t k, int cnt)
{
    const int64_t n = A->n;
    const float *b = A->bias;
    vf a, f, o, i, c0, c1, t, u;
    vld(&a, z + k, cnt);
    vld(&f, z + n + k, cnt);
    vld(&o, z + 2 * n + k, cnt);
    vld(&i, z + 3 * n + k, cnt);
    if (b) {
        vld(&t, b + k, cnt);
        a += t;
        vld(&t, b + n + k, cnt);
        f += t;
        vld(&t, b + 2 * n + k, cnt);
        o += t;
        vld(&t, b + 3 * n + k, cnt);
        i += t;
    }
    vld(&c0, cp + k, cnt);
    if (A->pf) {
        vld(&t, A->pf + k, cnt);
        vld(&u, A->pi + k, cnt);
        f += t * c0;
        i += u * c0;
    }
    vact(A->act, A->alpha, &a);
    vsigmoid(&f);
    vsigmoid(&i);
    c1 = f * c0 + i * a;
    if (A->po) {
        vld(&t, A->po + k, cnt);
        o += t * c1;
    }
    vsigmoid(&o);
    vf act_c = c1;
    vact(A->act, A->alpha, &act_c);
    vf hv = o * act_c;
    vst(cn + k, &c1, cnt);
    vst(h + k, &hv, cnt);
    if (y != h)
        vst(y + k, &hv, cnt);
    if (A->keep_gates) {
        vst(z + k, &a, cnt);
        vst(z + n + k, &f, cnt);
        vst(z + 2 * n + k, &o, cnt);
        vst(z + 3 * n + k, &i, cnt);
        vst(ac + k, &act_c, cnt);
    }
}

/* One time step for all B examples. z [B, 4n]; cp, cn, hp, h, y [B, n]; h == y when there is
 * no mask. A masked example keeps cp and hp and outputs zero. */
INLINE void fwd_step_body(const cell_args *A, float *z, const float *cp, float *cn, const float *hp,
                     float *h, float *y, const float *mask, int64_t B)
{
    const int64_t n = A->n, G = 4 * n;
    const int64_t nv = n - n % VL;
    for (int64_t r = 0; r < B; r++) {
        float *zr = z + r * G, *cnr = cn + r * n, *hr = h + r * n, *yr = y + r * n;
        const float *cpr = cp + r * n;
        if (mask && mask[r] == 0.0f) {
            assert(h != y);
            memcpy(cnr, cpr, (size_t)n * sizeof(float));
            memcpy(hr, hp + r * n, (size_t)n * sizeof(float));
            memset(yr, 0, (size_t)n * sizeof(float));
            continue;
        }
        float *acr = A->ac ? A->ac + r * n : NULL;
        int64_t k = 0;
        for (; k < nv; k += VL)
            fwd_chunk(A, zr, cpr, cnr, hr, yr, acr, k, VL);
        if (k < n)
            fwd_chunk(A, zr, cpr, cnr, hr, yr, acr, k, (int)(n - k));
    }
}

/* Backward for units [k, k + cnt) of one example at one step. z holds the gates a, f, o, i and
 * receives dz; cp, cc: c[t-1], c[t]; ac: act(c[t]); dy: dL/dy[t]; dhr: dL/dh[t] through the
 * recurrence; dc: in dL/dc[t] from step t+1, out dL/dc[t-1]; dp: peephole gradients [3n]. */
INLINE void bwd_chunk(const cell_args *A, float *z, const float *cp, const float *cc,
                      const float *ac, const float *dy, const float *dhr, float *dc, float *dp,
                      int64_t k, int cnt)
{
    const int64_t n = A->n;
    vf a, f, o, i, dh, t, act_c, c0, dcv;
    vld(&a, z + k, cnt);
    vld(&f, z + n + k, cnt);
    vld(&o, z + 2 * n + k, cnt);
    vld(&i, z + 3 * n + k, cnt);
    vld(&dh, dy + k, cnt);
    vld(&t, dhr + k, cnt);
    dh += t;
    vld(&act_c, ac + k, cnt);
    vld(&c0, cp + k, cnt);
    vld(&dcv, dc + k, cnt);
    vf dzo = dh * act_c * o * (1.0f - o);
    vf dact_c = act_c;
    vdact(A->act, A->alpha, &dact_c);
    dcv += dh * o * dact_c;
    if (A->po) {
        vld(&t, A->po + k, cnt);
        dcv += dzo * t;
    }
    vf dact_a = a;
    vdact(A->act, A->alpha, &dact_a);
    vf dza = dcv * i * dact_a;
    vf dzf = dcv * c0 * f * (1.0f - f);
    vf dzi = dcv * a * i * (1.0f - i);
    vf dcp = dcv * f;
    if (A->pf) {
        vf pf, pi, cc1, acc;
        vld(&pf, A->pf + k, cnt);
        vld(&pi, A->pi + k, cnt);
        dcp += dzf * pf + dzi * pi;
        vld(&acc, dp + k, cnt);
        acc += dzf * c0;
        vst(dp + k, &acc, cnt);
        vld(&cc1, cc + k, cnt);
        vld(&acc, dp + n + k, cnt);
        acc += dzo * cc1;
        vst(dp + n + k, &acc, cnt);
        vld(&acc, dp + 2 * n + k, cnt);
        acc += dzi * c0;
        vst(dp + 2 * n + k, &acc, cnt);
    }
    vst(z + k, &dza, cnt);
    vst(z + n + k, &dzf, cnt);
    vst(z + 2 * n + k, &dzo, cnt);
    vst(z + 3 * n + k, &dzi, cnt);
    vst(dc + k, &dcp, cnt);
}

INLINE void bwd_step_body(const cell_args *A, float *z, const float *cp, const float *cc,
                     const float *ac, const float *dy, const float *dhr, float *dc, float *dp,
                     const float *mask, int64_t B)
{
    const int64_t n = A->n, G = 4 * n;
    const int64_t nv = n - n % VL;
    for (int64_t r = 0; r < B; r++) {
        float *zr = z + r * G;
        if (mask && mask[r] == 0.0f) {
            /* h and c passed through unchanged: dc carries on, no gate gradient */
            memset(zr, 0, (size_t)G * sizeof(float));
            continue;
        }
        const int64_t o = r * n;
        int64_t k = 0;
        for (; k < nv; k += VL)
            bwd_chunk(A, zr, cp + o, cc + o, ac + o, dy + o, dhr + o, dc + o, dp, k, VL);
        if (k < n)
            bwd_chunk(A, zr, cp + o, cc + o, ac + o, dy + o, dhr + o, dc + o, dp, k, (int)(n - k));
    }
}

#if HAVE_X86_KERNELS
AVX2_TARGET static void fwd_step_avx2(const cell_args *A, float *z, const float *cp, float *cn,
                                      const float *hp, float *h, float *y, const float *mask,
                                      int64_t B)
{
    fwd_step_body(A, z, cp, cn, hp, h, y, mask, B);
}

AVX2_TARGET static void bwd_step_avx2(const cell_args *A, float *z, const float *cp,
                                      const float *cc, const float *ac, const float *dy,
                                      const float *dhr, float *dc, float *dp, const float *mask,
                                      int64_t B)
{
    bwd_step_body(A, z, cp, cc, ac, dy, dhr, dc, dp, mask, B);
}

/* The best kernel set the processor supports. */
static lstm_kernel kernel_best(void)
{
    static _Atomic int best = -1;
    if (best < 0) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
            __builtin_cpu_supports("fma"))
            best = LSTM_KERNEL_AVX512;
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            best = LSTM_KERNEL_AVX2;
        else
            best = LSTM_KERNEL_PORTABLE;
    }
    return (lstm_kernel)best;
}
#else
static lstm_kernel kernel_best(void)
{
    return LSTM_KERNEL_PORTABLE;
}
#endif

static _Atomic int kernel_forced = LSTM_KERNEL_AUTO;

bool lstm_cell_select_kernel(lstm_kernel k)
{
    if (k != LSTM_KERNEL_AUTO && k > kernel_best())
        return false;
    kernel_forced = k;
    return true;
}

static lstm_kernel kernel(void)
{
    lstm_kernel k = (lstm_kernel)kernel_forced;
    return k == LSTM_KERNEL_AUTO ? kernel_best() : k;
}


static void fwd_step(const cell_args *A, float *z, const float *cp, float *cn, const float *hp,
                     float *h, float *y, const float *mask, int64_t B)
{
#if HAVE_X86_KERNELS
    if (A->avx2) {
        fwd_step_avx2(A, z, cp, cn, hp, h, y, mask, B);
        return;
    }
#endif
    fwd_step_body(A, z, cp, cn, hp, h, y, mask, B);
}

static void bwd_step(const cell_args *A, float *z, const float *cp, const float *cc,
                     const float *ac, const float *dy, const float *dhr, float *dc, float *dp,
                     const float *mask, int64_t B)
{
#if HAVE_X86_KERNELS
    if (A->avx2) {
        bwd_step_avx2(A, z, cp, cc, ac, dy, dhr, dc, dp, mask, B);
        return;
    }
#endif
    bwd_step_body(A, z, cp, cc, ac, dy, dhr, dc, dp, mask, B);
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
    fbuf ac;        /* act(c) [T, B, n] (training) */
    fbuf mask;      /* [T, B] copy (training) */
    fbuf xd;        /* input after dropout [T, B, n_in] (training with dropout) */
    fbuf xm;        /* dropout multipliers, as xd */
    fbuf h0, c0;    /* initial state of the last call [B, n] */
    fbuf hN, cN;    /* final state of the last call [B, n] (carry_state) */
    fbuf peep;      /* pf | po | pi [3n] */
    fbuf dh;        /* backward: 2 x [B, n] */
    fbuf dc;        /* backward: [B, n] */
    fbuf dp;        /* backward: peephole gradients [workers, 3n] */
    fbuf ones;      /* backward: [T * B] of 1 (bias gradient as a matrix-vector product) */
    fbuf pkf;       /* RW[:, 0:4n] packed for the step kernel (forward) */
    fbuf pkb;       /* RW[:, 0:4n] transposed and packed (backward) */
    fbuf pkw;       /* W packed (forward), W transposed and packed (backward) */
    fbuf dx;        /* backward with dropout: [T, B, n_in] */
    bool have_carry;
    int64_t carry_b, carry_n;
    /* the cached training forward */
    bool cached, masked, dropped, from_carry;
    int64_t T, B, n_in, n;
} lstm_state;

void lstm_free_state(layer *L)
{
    lstm_state *s = L->state;
    if (!s)
        return;
    fbuf *all[] = {&s->z, &s->cs, &s->hs, &s->ac, &s->mask, &s->xd, &s->xm, &s->h0, &s->c0,
                   &s->hN, &s->cN, &s->peep, &s->dh, &s->dc, &s->dp, &s->ones, &s->pkf,
                   &s->pkb, &s->pkw, &s->dx};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]->p);
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
                 "[batch, %" PRId64 ", %" PRId64 ", %" PRId64 "]", tn, in[0].h, in[0].w, in[0].c);
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
    if (L->activation == ACT_SOFTMAX || L->activation == ACT_GELU) {
        snprintf(msg, msg_len, "%s cannot use activation %s (the cell needs an element-wise "
                 "activation whose derivative follows from its output: tanh, sigmoid, "
                 "hardsigmoid, relu, leakyrelu, elu, softplus or identity)", tn,
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
    specs[0] = (param_spec){"W", PARAM_WEIGHT, 2, {nin, 4 * n}, fan_in, fan_out};
    const int64_t rw_cols = 4 * n + (peephole ? 3 : 0);
    specs[1] = (param_spec){"RW", PARAM_RECURRENT, 2, {n, rw_cols}, fan_in, fan_out};
    if (!L->has_bias)
        return 2;
    specs[2] = (param_spec){"b", PARAM_BIAS, 1, {4 * n, 0}, fan_in, fan_out};
    return 3;
}

/* ---- the per-step matrix product -------------------------------------------------------------
 * Each step multiplies a few rows of h (or dz) by the same RW. A general sgemm call packs RW
 * into its panel layout on every call (1 MB per step for n = 256); here RW is packed once per
 * forward (and once, transposed, per backward) into panels of NR columns, Bp[panel][k][NR], and
 * a register-blocked kernel (MR rows x NR columns of C held in registers, FMA) streams each
 * panel once per step. AVX-512 and AVX2 + FMA kernels are chosen at run time; elsewhere the
 * steps use cblas_sgemm. */

#if HAVE_X86_KERNELS
#define AVX512_TARGET __attribute__((target("avx512f")))
#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#else
#define UNROLL _Pragma("GCC unroll 16")
#endif

/* C[0:m, 0:ncols] (+)= A[0:m, 0:K] x panel, the panel being K rows of NR = 32 floats. */
AVX512_TARGET INLINE void kern512(int m, int64_t K, const float *A, int64_t lda, const float *bp,
                                  float *C, int64_t ldc, int ncols, bool acc)
{
    __m512 c0[8], c1[8];
    UNROLL for (int i = 0; i < 8; i++) {
        c0[i] = _mm512_setzero_ps();
        c1[i] = _mm512_setzero_ps();
    }
    for (int64_t k = 0; k < K; k++) {
        __m512 b0 = _mm512_load_ps(bp + k * 32), b1 = _mm512_load_ps(bp + k * 32 + 16);
        UNROLL for (int i = 0; i < 8; i++) {
            if (i < m) {
                __m512 a = _mm512_set1_ps(A[i * lda + k]);
                c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
                c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
            }
        }
    }
    if (ncols == 32) {
        UNROLL for (int i = 0; i < 8; i++) {
            if (i < m) {
                float *c = C + i * ldc;
                if (acc) {
                    c0[i] = _mm512_add_ps(c0[i], _mm512_loadu_ps(c));
                    c1[i] = _mm512_add_ps(c1[i], _mm512_loadu_ps(c + 16));
                }
                _mm512_storeu_ps(c, c0[i]);
                _mm512_storeu_ps(c + 16, c1[i]);
            }
        }
        return;
    }
    float tile[32] __attribute__((aligned(64)));
    UNROLL for (int i = 0; i < 8; i++) {
        if (i < m) {
            _mm512_store_ps(tile, c0[i]);
            _mm512_store_ps(tile + 16, c1[i]);
            float *c = C + i * ldc;
            for (int j = 0; j < ncols; j++)
                c[j] = acc ? c[j] + tile[j] : tile[j];
        }
    }
}

AVX512_TARGET static void gemm_avx512(int64_t M, int64_t N, int64_t K, const float *A,
                                      int64_t lda, const float *Bp, float *C, int64_t ldc,
                                      bool acc)
{
    for (int64_t j0 = 0; j0 < N; j0 += 32) {
        const float *bp = Bp + j0 * K;
        const int ncols = N - j0 < 32 ? (int)(N - j0) : 32;
        int64_t r = 0;
        for (; r + 8 <= M; r += 8)
            kern512(8, K, A + r * lda, lda, bp, C + r * ldc + j0, ldc, ncols, acc);
        switch (M - r) {
        case 7: kern512(7, K, A + r * lda, lda, bp, C + r * ldc + j0, ldc, ncols, acc); break;
        case 6: kern512(6, K, A + r * lda, lda, bp, C + r * ldc + j0, ldc, ncols, acc); break;
        case 5: kern512(5, K, A + r * lda, lda, bp, C + r * ldc + j0, ldc, ncols, acc); break;
        case 4: kern512(4, K, A + r * lda, lda, bp, C + r * ldc + j0, ldc, ncols, acc); break;
        case 3: kern512(3, K, A + r * lda, lda, bp, C + r * ldc + j0, ldc, ncols, acc); break;
        case 2: kern512(2, K, A + r * lda, lda, bp, C + r * ldc + j0, ldc, ncols, acc); break;
        case 1: kern512(1, K, A + r * lda, lda, bp, C + r * ldc + j0, ldc, ncols, acc); break;
        default: break;
        }
    }
}

/* As kern512 with 6 rows of NR = 16 (two 8-float registers per row). */
AVX2_TARGET INLINE void kern256(int m, int64_t K, const float *A, int64_t lda, const float *bp,
                                float *C, int64_t ldc, int ncols, bool acc)
{
    __m256 c0[6], c1[6];
    UNROLL for (int i = 0; i < 6; i++) {
        c0[i] = _mm256_setzero_ps();
        c1[i] = _mm256_setzero_ps();
    }
    for (int64_t k = 0; k < K; k++) {
        __m256 b0 = _mm256_load_ps(bp + k * 16), b1 = _mm256_load_ps(bp + k * 16 + 8);
        UNROLL for (int i = 0; i < 6; i++) {
            if (i < m) {
                __m256 a = _mm256_broadcast_ss(A + i * lda + k);
                c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
                c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
            }
        }
    }
    if (ncols == 16) {
        UNROLL for (int i = 0; i < 6; i++) {
            if (i < m) {
                float *c = C + i * ldc;
                if (acc) {
                    c0[i] = _mm256_add_ps(c0[i], _mm256_loadu_ps(c));
                    c1[i] = _mm256_add_ps(c1[i], _mm256_loadu_ps(c + 8));
                }
                _mm256_storeu_ps(c, c0[i]);
                _mm256_storeu_ps(c + 8, c1[i]);
            }
        }
        return;
    }
    float tile[16] __attribute__((aligned(32)));
    UNROLL for (int i = 0; i < 6; i++) {
        if (i < m) {
            _mm256_store_ps(tile, c0[i]);
            _mm256_store_ps(tile + 8, c1[i]);
            float *c = C + i * ldc;
            for (int j = 0; j < ncols; j++)
                c[j] = acc ? c[j] + tile[j] : tile[j];
        }
    }
}

AVX2_TARGET static void gemm_avx2(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                  const float *Bp, float *C, int64_t ldc, bool acc)
{
    for (int64_t j0 = 0; j0 < N; j0 += 16) {
        const float *bp = Bp + j0 * K;
        const int ncols = N - j0 < 16 ? (int)(N - j0) : 16;
        int64_t r = 0;
        for (; r + 6 <= M; r += 6)
            kern256(6, K, A + r * lda, lda, bp, C + r * ldc + j0, ldc, ncols, acc);
        switch (M - r) {
        case 5: kern256(5, K, A + r * lda, lda, bp, C + r * ldc + j0, ldc, ncols, acc); break;
        case 4: kern256(4, K, A + r * lda, lda, bp, C + r * ldc + j0, ldc, ncols, acc); break;
        case 3: kern256(3, K, A + r * lda, lda, bp, C + r * ldc + j0, ldc, ncols, acc); break;
        case 2: kern256(2, K, A + r * lda, lda, bp, C + r * ldc + j0, ldc, ncols, acc); break;
        case 1: kern256(1, K, A + r * lda, lda, bp, C + r * ldc + j0, ldc, ncols, acc); break;
        default: break;
        }
    }
}
#endif

/* The panel width of the kernel in use (0: none, use cblas). */
static int64_t panel_width(void)
{
    switch (kernel()) {
    case LSTM_KERNEL_AVX512:
        return 32;
    case LSTM_KERNEL_AVX2:
        return 16;
    default:
        return 0;
    }
}

/* A K x N matrix packed into panels of nr columns (the last zero-padded), 64-byte aligned, in
 * storage owned by an fbuf of the state. */
typedef struct packed {
    float *p;
    int64_t K, N, nr;
} packed;

/* Packs B (K x N) given as element (k, j) = src[k * rs + j * cs] into buf. Returns 0 or -1. */
static int pack_b(packed *P, fbuf *buf, const float *src, int64_t rs, int64_t cs, int64_t K,
                  int64_t N, int64_t nr)
{
    const int64_t panels = (N + nr - 1) / nr;
    if (fbuf_need(buf, (size_t)(panels * nr * K) + 16))
        return -1;
    P->p = (float *)(((uintptr_t)buf->p + 63) & ~(uintptr_t)63);
    P->K = K;
    P->N = N;
    P->nr = nr;
    for (int64_t j0 = 0; j0 < N; j0 += nr) {
        float *dst = P->p + j0 * K;
        const int64_t w = N - j0 < nr ? N - j0 : nr;
        for (int64_t k = 0; k < K; k++) {
            const float *s = src + k * rs + j0 * cs;
            float *d = dst + k * nr;
            for (int64_t j = 0; j < w; j++)
                d[j] = s[j * cs];
            for (int64_t j = w; j < nr; j++)
                d[j] = 0.0f;
        }
    }
    return 0;
}

/* C[M, N] (+)= A[M, K] x P. */
static void gemm_packed(int64_t M, const float *A, int64_t lda, const packed *P, float *C,
                        int64_t ldc, bool acc)
{
#if HAVE_X86_KERNELS
    if (P->nr == 32) {
        gemm_avx512(M, P->N, P->K, A, lda, P->p, C, ldc, acc);
        return;
    }
    assert(P->nr == 16);
    gemm_avx2(M, P->N, P->K, A, lda, P->p, C, ldc, acc);
#else
    (void)M; (void)A; (void)lda; (void)P; (void)C; (void)ldc; (void)acc;
    assert(!"no packed kernel on this target");
#endif
}

/* ---- running row ranges in parallel ----------------------------------------------------------
 * The examples of a batch are independent through time, so the time loop of a call is split by
 * batch rows: each worker runs every step for its rows (its own small matrix products and gate
 * loops) with no synchronisation until the end. The number of workers follows OpenBLAS's thread
 * count (OPENBLAS_NUM_THREADS), each with at least MIN_ROWS rows; while they run, OpenBLAS is
 * held at one thread per call so that the workers do not oversubscribe the cores. */

#define MAX_WORKERS 8
#define MIN_ROWS 16

static int worker_count(int64_t B)
{
    int nt = openblas_get_num_threads();
    int64_t by_rows = B / MIN_ROWS;
    int w = nt < by_rows ? nt : (int)by_rows;
    if (w > MAX_WORKERS)
        w = MAX_WORKERS;
    return w < 1 ? 1 : w;
}

typedef struct range_task {
    void (*fn)(void *job, int64_t r0, int64_t r1, int worker);
    void *job;
    int64_t r0, r1;
    int worker;
} range_task;

static void *range_main(void *arg)
{
    range_task *t = arg;
    t->fn(t->job, t->r0, t->r1, t->worker);
    return NULL;
}

/* Runs fn over [0, B) split into `workers` contiguous ranges; the caller's thread takes the
 * first. A worker thread that cannot be started runs its range on the caller's thread. */
static void run_ranges(void (*fn)(void *, int64_t, int64_t, int), void *job, int64_t B,
                       int workers)
{
    if (workers <= 1) {
        fn(job, 0, B, 0);
        return;
    }
    range_task tasks[MAX_WORKERS];
    pthread_t th[MAX_WORKERS];
    bool started[MAX_WORKERS] = {false};
    const int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    for (int w = 0; w < workers; w++)
        tasks[w] = (range_task){fn, job, B * w / workers, B * (w + 1) / workers, w};
    for (int w = 1; w < workers; w++)
        started[w] = pthread_create(&th[w], NULL, range_main, &tasks[w]) == 0;
    range_main(&tasks[0]);
    for (int w = 1; w < workers; w++) {
        if (started[w])
            pthread_join(th[w], NULL);
        else
            range_main(&tasks[w]);
    }
    openblas_set_num_threads(blas_threads);
}

/* C[M, N] (+)= A[M, K] x P with the rows split across workers. */
typedef struct rows_job {
    const float *A;
    int64_t lda, ldc;
    const packed *P;
    float *C;
    bool acc;
} rows_job;

static void gemm_rows(void *job, int64_t r0, int64_t r1, int worker)
{
    (void)worker;
    const rows_job *J = job;
    gemm_packed(r1 - r0, J->A + r0 * J->lda, J->lda, J->P, J->C + r0 * J->ldc, J->ldc, J->acc);
}

static void gemm_packed_parallel(int64_t M, const float *A, int64_t lda, const packed *P,
                                 float *C, int64_t ldc, bool acc)
{
    rows_job J = {A, lda, ldc, P, C, acc};
    run_ranges(gemm_rows, &J, M, worker_count(M));
}

/* ---- forward ------------------------------------------------------------------------------- */

static lstm_state *state_get(layer *L)
{
    if (!L->state)
        L->state = calloc(1, sizeof(lstm_state));
    return L->state;
}

typedef struct fwd_job {
    const cell_args *A;
    const packed *P;        /* RW packed for the step kernel, or NULL: cblas */
    lstm_state *s;
    const float *RW, *mask;
    float *out;
    int64_t T, B, n, ldr;
    bool train, masked, carry;
} fwd_job;

/* The time loop for batch rows [r0, r1): every array below is [.., B, ..] per step, so a row
 * range is a contiguous block at offset r0 of each step's slice. */
static void fwd_rows(void *job, int64_t r0, int64_t r1, int worker)
{
    (void)worker;
    const fwd_job *J = job;
    lstm_state *s = J->s;
    const int64_t B = J->B, n = J->n, G = 4 * n, rows = r1 - r0;
    const size_t Bn = (size_t)(B * n);
    cell_args A = *J->A;
    const float *hp = s->h0.p + r0 * n, *cp = s->c0.p + r0 * n;
    for (int64_t t = 0; t < J->T; t++) {
        float *zt = s->z.p + ((size_t)t * B + r0) * G;
        const size_t slot = J->train ? (size_t)t : (size_t)(t & 1);
        float *ct = s->cs.p + slot * Bn + r0 * n;
        float *yt = J->out + (size_t)t * Bn + r0 * n;
        float *ht = J->masked ? s->hs.p + slot * Bn + r0 * n : yt;
        if ((t > 0 || J->carry) && J->P)
            gemm_packed(rows, hp, n, J->P, zt, G, true);
        else if (t > 0 || J->carry)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)G, (int)n,
                        1.0f, hp, (int)n, J->RW, (int)J->ldr, 1.0f, zt, (int)G);
        A.ac = J->train ? s->ac.p + (size_t)t * Bn + r0 * n : NULL;
        fwd_step(&A, zt, cp, ct, hp, ht, yt, J->masked ? J->mask + (size_t)t * B + r0 : NULL,
                 rows);
        hp = ht;
        cp = ct;
    }
    memcpy(s->hN.p + r0 * n, hp, (size_t)(rows * n) * sizeof(float));
    memcpy(s->cN.p + r0 * n, cp, (size_t)(rows * n) * sizeof(float));
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
    assert(nin == L->n_in && L->n_params == (L->has_bias ? 3 : 2));
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
    const double p_drop = L->train.dropout;
    const bool dropped = train && p_drop > 0.0 && c->rng;
    const size_t steps = train ? (size_t)T : 2;
    if (fbuf_need(&s->z, TB * (size_t)G) || fbuf_need(&s->cs, steps * Bn) ||
        (masked && fbuf_need(&s->hs, steps * Bn)) || (train && fbuf_need(&s->ac, TB * (size_t)n)) ||
        (train && masked && fbuf_need(&s->mask, TB)) ||
        (dropped && (fbuf_need(&s->xd, TB * (size_t)nin) || fbuf_need(&s->xm, TB * (size_t)nin))) ||
        fbuf_need(&s->h0, Bn) || fbuf_need(&s->c0, Bn) || fbuf_need(&s->hN, Bn) ||
        fbuf_need(&s->cN, Bn) || (peephole && fbuf_need(&s->peep, 3 * (size_t)n)))
        return fwd_oom(L, c);

    const float *W = L->params[0].data, *RW = L->params[1].data;
    const float *bias = L->has_bias ? L->params[2].data : NULL;
    cell_args A = {.n = n, .act = L->activation,
                   .alpha = (float)act_alpha(L->activation, L->alpha), .bias = bias,
                   .keep_gates = train, .avx2 = kernel() >= LSTM_KERNEL_AVX2};
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
    if (dropped) {
        /* inverted dropout on the layer input, as DL4J applies a layer's dropout */
        dropout_fill(c->rng, p_drop, x, s->xd.p, s->xm.p, (int64_t)TB * nin);
        x = s->xd.p;
    }

    const bool carry = c->carry_state && s->have_carry && s->carry_b == B && s->carry_n == n;
    if (carry) {
        memcpy(s->h0.p, s->hN.p, Bn * sizeof(float));
        memcpy(s->c0.p, s->cN.p, Bn * sizeof(float));
    } else {
        memset(s->h0.p, 0, Bn * sizeof(float));
        memset(s->c0.p, 0, Bn * sizeof(float));
    }

    /* the input projection of every step at once */
    const int64_t nr = panel_width();
    packed P;
    if (nr > 0) {
        if (pack_b(&P, &s->pkw, W, G, 1, nin, G, nr))
            return fwd_oom(L, c);
        gemm_packed_parallel((int64_t)TB, x, nin, &P, s->z.p, G, false);
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)TB, (int)G, (int)nin, 1.0f,
                    x, (int)nin, W, (int)G, 0.0f, s->z.p, (int)G);
    }

    const bool use_packed = nr > 0 && (T > 1 || carry);
    if (use_packed && pack_b(&P, &s->pkf, RW, ldr, 1, n, G, nr))
        return fwd_oom(L, c);
    fwd_job J = {.A = &A, .P = use_packed ? &P : NULL, .s = s, .RW = RW, .mask = c->mask,
                 .out = c->out->data, .T = T, .B = B, .n = n, .ldr = ldr, .train = train,
                 .masked = masked, .carry = carry};
    run_ranges(fwd_rows, &J, B, worker_count(B));
    s->have_carry = true;
    s->carry_b = B;
    s->carry_n = n;

    if (train) {
        if (masked)
            memcpy(s->mask.p, c->mask, TB * sizeof(float));
        s->cached = true;
        s->masked = masked;
        s->dropped = dropped;
        s->from_carry = carry;
        s->T = T;
        s->B = B;
        s->n_in = nin;
        s->n = n;
    }
    return 0;
}

/* ---- backward ------------------------------------------------------------------------------ */

typedef struct bwd_job {
    const cell_args *A;
    const packed *P;        /* RW[:, 0:4n] transposed, packed, or NULL: cblas */
    lstm_state *s;
    const float *RW, *dout;
    int64_t T, B, n, ldr;
} bwd_job;

/* Backpropagation through time for batch rows [r0, r1); worker w accumulates its peephole
 * gradients in its own slice of s->dp. */
static void bwd_rows(void *job, int64_t r0, int64_t r1, int worker)
{
    const bwd_job *J = job;
    lstm_state *s = J->s;
    const int64_t B = J->B, n = J->n, G = 4 * n, rows = r1 - r0;
    const size_t Bn = (size_t)(B * n), rn = (size_t)(rows * n);
    float *dp = J->A->pf ? s->dp.p + (size_t)worker * 3 * n : NULL;
    if (dp)
        memset(dp, 0, 3 * (size_t)n * sizeof(float));
    float *dc = s->dc.p + r0 * n;
    float *dh_cur = s->dh.p + r0 * n, *dh_next = s->dh.p + Bn + r0 * n;
    memset(dh_cur, 0, rn * sizeof(float));
    memset(dc, 0, rn * sizeof(float));
    for (int64_t t = J->T - 1; t >= 0; t--) {
        float *zt = s->z.p + ((size_t)t * B + r0) * G;
        const float *cc = s->cs.p + (size_t)t * Bn + r0 * n;
        const float *cp = t > 0 ? cc - Bn : s->c0.p + r0 * n;
        const float *mt = s->masked ? s->mask.p + (size_t)t * B + r0 : NULL;
        bwd_step(J->A, zt, cp, cc, s->ac.p + (size_t)t * Bn + r0 * n,
                 J->dout + (size_t)t * Bn + r0 * n, dh_cur, dc, dp, mt, rows);
        if (t == 0)
            break;
        if (J->P)
            gemm_packed(rows, zt, G, J->P, dh_next, n, false);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)n, (int)G,
                        1.0f, zt, (int)G, J->RW, (int)J->ldr, 0.0f, dh_next, (int)n);
        if (mt)
            for (int64_t r = 0; r < rows; r++)
                if (mt[r] == 0.0f)
                    memcpy(dh_next + r * n, dh_cur + r * n, (size_t)n * sizeof(float));
        float *tmp = dh_cur;
        dh_cur = dh_next;
        dh_next = tmp;
    }
}

int lstm_backward(layer *L, const bwd_ctx *c, bool peephole)
{
    lstm_state *s = L->state;
    assert(s && s->cached && "lstm backward without a training forward");
    const int64_t T = s->T, B = s->B, nin = s->n_in, n = s->n, G = 4 * n;
    const int64_t ldr = peephole ? G + 3 : G;
    assert(c->dout->size == T * B * n && n == L->n_out);
    const size_t TB = (size_t)(T * B), Bn = (size_t)(B * n);
    float *dx_out = c->din && c->din[0] ? c->din[0]->data : NULL;
    const int workers = worker_count(B);
    if (fbuf_need(&s->dh, 2 * Bn) || fbuf_need(&s->dc, Bn) ||
        (peephole && fbuf_need(&s->dp, (size_t)workers * 3 * (size_t)n)) ||
        fbuf_need(&s->ones, TB) || (s->dropped && dx_out && fbuf_need(&s->dx, TB * (size_t)nin)))
        return -1;
    s->cached = false;
    if (T == 0 || B == 0)
        return 0;

    const float *RW = L->params[1].data;
    cell_args A = {.n = n, .act = L->activation,
                   .alpha = (float)act_alpha(L->activation, L->alpha),
                   .avx2 = kernel() >= LSTM_KERNEL_AVX2};
    if (peephole) {
        A.pf = s->peep.p;
        A.po = s->peep.p + n;
        A.pi = s->peep.p + 2 * n;
    }
    packed P;
    const int64_t nr = panel_width();
    const bool use_packed = nr > 0 && T > 1;
    if (use_packed && pack_b(&P, &s->pkb, RW, 1, ldr, G, n, nr))
        return -1;
    bwd_job J = {.A = &A, .P = use_packed ? &P : NULL, .s = s, .RW = RW, .dout = c->dout->data,
                 .T = T, .B = B, .n = n, .ldr = ldr};
    run_ranges(bwd_rows, &J, B, workers);

    /* z now holds dL/dz for every step and example */
    float *z = s->z.p;
    const float *x = s->dropped ? s->xd.p : c->in[0]->data;
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
            for (int w = 0; w < workers; w++) {
                const float *dp = s->dp.p + (size_t)w * 3 * n;
                for (int64_t k = 0; k < n; k++) {
                    dRW[k * ldr + G] += dp[k];
                    dRW[k * ldr + G + 1] += dp[n + k];
                    dRW[k * ldr + G + 2] += dp[2 * n + k];
                }
            }
    }
    if (dx_out) {
        /* dx (+)= dz W^T; with dropout through a scratch buffer and the dropout multipliers */
        const float *W = L->params[0].data;
        float *dst = s->dropped ? s->dx.p : dx_out;
        const bool acc = !s->dropped;
        if (nr > 0) {
            packed PW;
            if (pack_b(&PW, &s->pkw, W, 1, G, G, nin, nr))
                return -1;
            gemm_packed_parallel((int64_t)TB, z, G, &PW, dst, nin, acc);
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)TB, (int)nin, (int)G, 1.0f,
                        z, (int)G, W, (int)G, acc ? 1.0f : 0.0f, dst, (int)nin);
        }
        if (s->dropped) {
            const size_t cnt = TB * (size_t)nin;
            for (size_t j = 0; j < cnt; j++)
                dx_out[j] += s->dx.p[j] * s->xm.p[j];
        }
    }
    return 0;
}
