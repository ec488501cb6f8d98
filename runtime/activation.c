/* activation.c: identity, relu, leakyrelu, elu, tanh, sigmoid, hardsigmoid (DL4J's
 * min(1, max(0, 0.2x + 0.5))), softmax, softplus and gelu (exact erf form), forward and backward. */
#include "activation.h"

#include <assert.h>
#include <math.h>
#include <string.h>

double act_alpha(activation_kind a, double alpha)
{
    if (alpha > 0)
        return alpha;
    return a == ACT_ELU ? 1.0 : 0.01;
}

static void softmax_rows(const float *x, float *y, int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float mx = -INFINITY;
        for (int64_t j = 0; j < cols; j++)
            mx = xr[j] > mx ? xr[j] : mx;
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

void act_forward(activation_kind a, double alpha, const float *x, float *y, int64_t rows, int64_t cols)
{
    const int64_t n = rows * cols;
    const float al = (float)act_alpha(a, alpha);
    switch (a) {
    case ACT_IDENTITY:
        if (x != y)
            memmove(y, x, (size_t)n * sizeof(float));
        break;
    case ACT_RELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case ACT_LEAKYRELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > 0.0f ? x[i] : al * x[i];
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
        for (int64_t i = 0; i < n; i++) {
            float v = 0.2f * x[i] + 0.5f;
            v = v < 0.0f ? 0.0f : v;
            y[i] = v > 1.0f ? 1.0f : v;
        }
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
    case ACT_COUNT:
        assert(!"bad activation");
        break;
    }
}

bool act_backward_needs_x(activation_kind a)
{
    return a == ACT_GELU;
}

void act_backward(activation_kind a, double alpha, const float *x, const float *y, const float *dy,
                  float *dx, int64_t rows, int64_t cols)
{
    const int64_t n = rows * cols;
    const float al = (float)act_alpha(a, alpha);
    switch (a) {
    case ACT_IDENTITY:
        if (dx != dy)
            memmove(dx, dy, (size_t)n * sizeof(float));
        break;
    case ACT_RELU:
        for (int64_t i = 0; i < n; i++)
            dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case ACT_LEAKYRELU:
        /* y > 0 exactly when x > 0 (alpha > 0) */
        for (int64_t i = 0; i < n; i++)
            dx[i] = y[i] > 0.0f ? dy[i] : al * dy[i];
        break;
    case ACT_ELU:
        /* for x <= 0: y = alpha (e^x - 1), so f'(x) = alpha e^x = y + alpha */
        for (int64_t i = 0; i < n; i++)
            dx[i] = y[i] > 0.0f ? dy[i] : dy[i] * (y[i] + al);
        break;
    case ACT_TANH:
        for (int64_t i = 0; i < n; i++)
            dx[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
    case ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            dx[i] = dy[i] * y[i] * (1.0f - y[i]);
        break;
    case ACT_HARDSIGMOID:
        for (int64_t i = 0; i < n; i++)
            dx[i] = (y[i] > 0.0f && y[i] < 1.0f) ? 0.2f * dy[i] : 0.0f;
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
    case ACT_COUNT:
        assert(!"bad activation");
        break;
    }
}
