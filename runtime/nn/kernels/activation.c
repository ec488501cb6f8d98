/* activation.c: identity, relu, leakyrelu, elu, tanh, sigmoid, hardsigmoid (DL4J's
 * min(1, max(0, 0.2x + 0.5))), softmax, softplus, gelu (exact erf form), relu6, hardtanh,
 * swish, clip(lo, hi), softsign, selu and log_softmax, forward and backward. */
#include "runtime/nn/kernels/activation.h"

#include <assert.h>
#include <math.h>
#include <string.h>
#include "runtime/base/vectorize.h"

/* out[i] = V for i in [0, n), where the statements BODY compute V from A = a[i] (MAP2: and
 * B = b[i]). The elements are taken in blocks of 16 that are read into locals before the block
 * is written, so out may be a or b (in place) and yet the compiler knows that the stores cannot
 * change the values read: it vectorises each block at -O2, with the widest vectors of the clone
 * (VEC_CLONES); a scalar tail follows. A selection whose arms compute anything is written
 * vec_select(c, p, q), which a vectoriser takes where it would see c ? p : q as a branch. Every
 * element sees the same operations in blocks and tail (results are bit-identical). */
#define MAP1(n, a, out, ...)                                                                    \
    do {                                                                                        \
        const int64_t m_n = (n);                                                                \
        int64_t m_k = 0;                                                                        \
        for (; m_k + 16 <= m_n; m_k += 16) {                                                    \
            float m_a[16];                                                                      \
            for (int m_j = 0; m_j < 16; m_j++)                                                  \
                m_a[m_j] = (a)[m_k + m_j];                                                      \
            for (int m_j = 0; m_j < 16; m_j++) {                                                \
                const float A = m_a[m_j];                                                       \
                float V;                                                                        \
                __VA_ARGS__                                                                     \
                (out)[m_k + m_j] = V;                                                           \
            }                                                                                   \
        }                                                                                       \
        for (; m_k < m_n; m_k++) {                                                              \
            const float A = (a)[m_k];                                                           \
            float V;                                                                            \
            __VA_ARGS__                                                                         \
            (out)[m_k] = V;                                                                     \
        }                                                                                       \
    } while (0)
#define MAP2(n, a, b, out, ...)                                                                 \
    do {                                                                                        \
        const int64_t m_n = (n);                                                                \
        int64_t m_k = 0;                                                                        \
        for (; m_k + 16 <= m_n; m_k += 16) {                                                    \
            float m_a[16], m_b[16];                                                             \
            for (int m_j = 0; m_j < 16; m_j++) {                                                \
                m_a[m_j] = (a)[m_k + m_j];                                                      \
                m_b[m_j] = (b)[m_k + m_j];                                                      \
            }                                                                                   \
            for (int m_j = 0; m_j < 16; m_j++) {                                                \
                const float A = m_a[m_j], B = m_b[m_j];                                         \
                float V;                                                                        \
                __VA_ARGS__                                                                     \
                (out)[m_k + m_j] = V;                                                           \
            }                                                                                   \
        }                                                                                       \
        for (; m_k < m_n; m_k++) {                                                              \
            const float A = (a)[m_k], B = (b)[m_k];                                             \
            float V;                                                                            \
            __VA_ARGS__                                                                         \
            (out)[m_k] = V;                                                                     \
        }                                                                                       \
    } while (0)

double act_alpha(activation_kind a, double alpha)
{
    if (alpha > 0)
        return alpha;
    return a == ACT_ELU ? 1.0 : 0.01;
}

/* The largest of x[0..n) (-inf for none), which the softmaxes subtract to keep exp finite. */
static float row_max(const float *x, int64_t n)
{
    float mx = -INFINITY;
    for (int64_t j = 0; j < n; j++)
        mx = x[j] > mx ? x[j] : mx;
    return mx;
}

static void softmax_rows(const float *x, float *y, int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float mx = row_max(xr, cols);
        double sum = 0.0;
        for (int64_t j = 0; j < cols; j++) {
            float e = expf(xr[j] - mx);
            yr[j] = e;
            sum += e;
        }
        float inv = (float)(1.0 / sum);
        for (int64_t j = 0; j < cols; j++)
            yr[j] *= inv;
    }
}

/* y = x - max - log(sum(exp(x - max))) on each row */
static void log_softmax_rows(const float *x, float *y, int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float mx = row_max(xr, cols);
        double sum = 0.0;
        for (int64_t j = 0; j < cols; j++)
            sum += exp((double)xr[j] - mx);
        float lse = (float)((double)mx + log(sum));
        for (int64_t j = 0; j < cols; j++)
            yr[j] = xr[j] - lse;
    }
}

bool act_is_row_wise(activation_kind a)
{
    return a == ACT_SOFTMAX || a == ACT_LOG_SOFTMAX;
}

VEC_CLONES void act_forward(activation_kind a, act_params p, const float *x, float *y,
                            int64_t rows, int64_t cols)
{
    const int64_t n = rows * cols;
    const float al = (float)act_alpha(a, p.alpha), lo = (float)p.lo, hi = (float)p.hi;
    switch (a) {
    case ACT_IDENTITY:
        if (x != y)
            memmove(y, x, (size_t)n * sizeof(float));
        break;
    case ACT_RELU:
        MAP1(n, x, y, V = A > 0.0f ? A : 0.0f;);
        break;
    case ACT_LEAKYRELU:
        MAP1(n, x, y, V = vec_select(A > 0.0f, A, al * A););
        break;
    case ACT_ELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > 0.0f ? x[i] : al * expm1f(x[i]);
        break;
    case ACT_TANH:
        for (int64_t i = 0; i < n; i++)
            y[i] = tanhf(x[i]);
        break;
    case ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case ACT_HARDSIGMOID:
        MAP1(n, x, y, const float v = 0.2f * A + 0.5f; const float w = v < 0.0f ? 0.0f : v;
             V = w > 1.0f ? 1.0f : w;);
        break;
    case ACT_SOFTMAX:
        softmax_rows(x, y, rows, cols);
        break;
    case ACT_SOFTPLUS:
        /* log(1 + e^x), linear above 20 as in PyTorch (the difference is below float precision) */
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > 20.0f ? x[i] : log1pf(expf(x[i]));
        break;
    case ACT_GELU:
        /* exact form x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), as PyTorch's default GELU */
        for (int64_t i = 0; i < n; i++)
            y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
        break;
    case ACT_RELU6:
        MAP1(n, x, y, const float w = A > 0.0f ? A : 0.0f; V = w < 6.0f ? w : 6.0f;);
        break;
    case ACT_HARDTANH:
        MAP1(n, x, y, const float w = A > -1.0f ? A : -1.0f; V = w < 1.0f ? w : 1.0f;);
        break;
    case ACT_SWISH:
        /* x sigmoid(x), as PyTorch's SiLU */
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] / (1.0f + expf(-x[i]));
        break;
    case ACT_CLIP:
        MAP1(n, x, y, const float w = A > lo ? A : lo; V = w < hi ? w : hi;);
        break;
    case ACT_SOFTSIGN:
        /* x / (1 + |x|), DL4J's SOFTSIGN */
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] / (1.0f + fabsf(x[i]));
        break;
    case ACT_SELU:
        /* scale (x > 0 ? x : alpha (e^x - 1)), PyTorch's SELU constants */
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > 0.0f ? SELU_SCALE * x[i] : SELU_SCALE * SELU_ALPHA * expm1f(x[i]);
        break;
    case ACT_LOG_SOFTMAX:
        log_softmax_rows(x, y, rows, cols);
        break;
    case ACT_COUNT:
        assert(!"bad activation");
        break;
    }
}

bool act_backward_needs_x(activation_kind a)
{
    return a == ACT_GELU || a == ACT_SWISH;
}

VEC_CLONES void act_backward(activation_kind a, act_params p, const float *x, const float *y,
                             const float *dy, float *dx, int64_t rows, int64_t cols)
{
    const int64_t n = rows * cols;
    const float al = (float)act_alpha(a, p.alpha), lo = (float)p.lo, hi = (float)p.hi;
    switch (a) {
    case ACT_IDENTITY:
        if (dx != dy)
            memmove(dx, dy, (size_t)n * sizeof(float));
        break;
    /* below, A is y[i] and B is dy[i] */
    case ACT_RELU:
        MAP2(n, y, dy, dx, V = A > 0.0f ? B : 0.0f;);
        break;
    case ACT_LEAKYRELU:
        /* y > 0 exactly when x > 0 (alpha > 0) */
        MAP2(n, y, dy, dx, V = vec_select(A > 0.0f, B, al * B););
        break;
    case ACT_ELU:
        /* for x <= 0: y = alpha (e^x - 1), so f'(x) = alpha e^x = y + alpha */
        MAP2(n, y, dy, dx, V = vec_select(A > 0.0f, B, B * (A + al)););
        break;
    case ACT_TANH:
        MAP2(n, y, dy, dx, V = B * (1.0f - A * A););
        break;
    case ACT_SIGMOID:
        MAP2(n, y, dy, dx, V = B * A * (1.0f - A););
        break;
    case ACT_HARDSIGMOID:
        MAP2(n, y, dy, dx, V = vec_select((A > 0.0f) & (A < 1.0f), 0.2f * B, 0.0f););
        break;
    case ACT_SOFTMAX:
        for (int64_t r = 0; r < rows; r++) {
            const float *yr = y + r * cols, *dyr = dy + r * cols;
            float *dxr = dx + r * cols;
            double s = 0.0;
            for (int64_t j = 0; j < cols; j++)
                s += (double)dyr[j] * yr[j];
            float sf = (float)s;
            for (int64_t j = 0; j < cols; j++)
                dxr[j] = yr[j] * (dyr[j] - sf);
        }
        break;
    case ACT_SOFTPLUS:
        /* f'(x) = sigmoid(x) = 1 - e^{-y} */
        for (int64_t i = 0; i < n; i++)
            dx[i] = dy[i] * -expm1f(-y[i]);
        break;
    case ACT_GELU:
        /* f'(x) = Phi(x) + x phi(x) */
        assert(x);
        for (int64_t i = 0; i < n; i++) {
            float xi = x[i];
            float cdf = 0.5f * (1.0f + erff(xi * 0.70710678118654752f));
            float pdf = 0.39894228040143268f * expf(-0.5f * xi * xi);
            dx[i] = dy[i] * (cdf + xi * pdf);
        }
        break;
    case ACT_RELU6:
        MAP2(n, y, dy, dx, V = vec_select((A > 0.0f) & (A < 6.0f), B, 0.0f););
        break;
    case ACT_HARDTANH:
        MAP2(n, y, dy, dx, V = vec_select((A > -1.0f) & (A < 1.0f), B, 0.0f););
        break;
    case ACT_SWISH:
        /* f'(x) = s + x s (1 - s) = s (1 + x (1 - s)), s = sigmoid(x) */
        assert(x);
        for (int64_t i = 0; i < n; i++) {
            float s = 1.0f / (1.0f + expf(-x[i]));
            dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
        }
        break;
    case ACT_CLIP:
        MAP2(n, y, dy, dx, V = vec_select((A > lo) & (A < hi), B, 0.0f););
        break;
    case ACT_SOFTSIGN:
        /* f'(x) = 1 / (1 + |x|)^2 = (1 - |f|)^2 */
        for (int64_t i = 0; i < n; i++) {
            float u = 1.0f - fabsf(y[i]);
            dx[i] = dy[i] * u * u;
        }
        break;
    case ACT_SELU:
        /* for x <= 0: y = scale alpha (e^x - 1), so f'(x) = scale alpha e^x = y + scale alpha */
        MAP2(n, y, dy, dx,
             V = vec_select(A > 0.0f, SELU_SCALE * B, B * (A + SELU_SCALE * SELU_ALPHA)););
        break;
    case ACT_LOG_SOFTMAX:
        /* dx = dy - softmax(x) sum(dy), softmax(x) = e^y */
        for (int64_t r = 0; r < rows; r++) {
            const float *yr = y + r * cols, *dyr = dy + r * cols;
            float *dxr = dx + r * cols;
            double s = 0.0;
            for (int64_t j = 0; j < cols; j++)
                s += dyr[j];
            float sf = (float)s;
            for (int64_t j = 0; j < cols; j++)
                dxr[j] = dyr[j] - expf(yr[j]) * sf;
        }
        break;
    case ACT_COUNT:
        assert(!"bad activation");
        break;
    }
}
