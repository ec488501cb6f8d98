/* loss.c: mcxent, negative_log_likelihood, mse, l1, xent, hinge and kl_divergence: values and
 * gradients with respect to the pre-activation. */
#include "runtime/nn/kernels/loss.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/nn/kernels/activation.h"
#include "runtime/nn/layer.h"

#define LOG_EPS 1e-10
#define XENT_EPS 1e-7

static inline double clip_lo(double p, double lo) { return p < lo ? lo : p; }
static inline double clip_xent(double p)
{
    return p < XENT_EPS ? XENT_EPS : (p > 1.0 - XENT_EPS ? 1.0 - XENT_EPS : p);
}

static double row_value(loss_kind loss, activation_kind act, const float *p, const float *y,
                        int64_t cols)
{
    double s = 0.0;
    if (loss == LOSS_NLL && act == ACT_LOG_SOFTMAX) {
        /* the outputs are log-probabilities already (PyTorch's NLLLoss after LogSoftmax) */
        for (int64_t j = 0; j < cols; j++)
            if (y[j] != 0.0f)
                s -= y[j] * (double)p[j];
        return s;
    }
    switch (loss) {
    case LOSS_MCXENT:
    case LOSS_NLL:
        for (int64_t j = 0; j < cols; j++)
            if (y[j] != 0.0f)
                s -= y[j] * log(clip_lo(p[j], LOG_EPS));
        return s;
    case LOSS_KL:
        for (int64_t j = 0; j < cols; j++)
            if (y[j] > 0.0f)
                s += y[j] * (log((double)y[j]) - log(clip_lo(p[j], LOG_EPS)));
        return s;
    case LOSS_XENT:
        for (int64_t j = 0; j < cols; j++) {
            double pc = clip_xent(p[j]);
            s -= y[j] * log(pc) + (1.0 - y[j]) * log(1.0 - pc);
        }
        return s;
    case LOSS_HINGE:
        for (int64_t j = 0; j < cols; j++) {
            double t = y[j] > 0.0f ? 1.0 : -1.0;
            double m = 1.0 - t * p[j];
            s += m > 0.0 ? m : 0.0;
        }
        return s;
    case LOSS_MSE:
        for (int64_t j = 0; j < cols; j++) {
            double d = (double)p[j] - y[j];
            s += d * d;
        }
        return s / (double)cols;
    case LOSS_L1:
        for (int64_t j = 0; j < cols; j++)
            s += fabs((double)p[j] - y[j]);
        return s / (double)cols;
    case LOSS_NONE:
    case LOSS_COUNT:
        break;
    }
    assert(!"bad loss");
    return 0.0;
}

double loss_value(loss_kind loss, activation_kind act, const float *p, const float *y,
                  const float *mask, int64_t rows, int64_t cols)
{
    double total = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        if (mask && mask[r] == 0.0f)
            continue;
        total += row_value(loss, act, p + r * cols, y + r * cols, cols);
    }
    return total;
}

/* dL/dp for one row, scaled. */
static void row_grad_p(loss_kind loss, const float *p, const float *y, int64_t cols, float scale,
                       float *g)
{
    switch (loss) {
    case LOSS_MCXENT:
    case LOSS_NLL:
    case LOSS_KL:
        for (int64_t j = 0; j < cols; j++)
            g[j] = p[j] > LOG_EPS ? -scale * y[j] / p[j] : 0.0f;
        return;
    case LOSS_XENT:
        for (int64_t j = 0; j < cols; j++) {
            double pc = clip_xent(p[j]);
            g[j] = (float)(scale * (pc - y[j]) / (pc * (1.0 - pc)));
        }
        return;
    case LOSS_HINGE:
        for (int64_t j = 0; j < cols; j++) {
            float t = y[j] > 0.0f ? 1.0f : -1.0f;
            g[j] = 1.0f - t * p[j] > 0.0f ? -scale * t : 0.0f;
        }
        return;
    case LOSS_MSE: {
        float k = 2.0f * scale / (float)cols;
        for (int64_t j = 0; j < cols; j++)
            g[j] = k * (p[j] - y[j]);
        return;
    }
    case LOSS_L1: {
        float k = scale / (float)cols;
        for (int64_t j = 0; j < cols; j++) {
            float d = p[j] - y[j];
            g[j] = d > 0.0f ? k : (d < 0.0f ? -k : 0.0f);
        }
        return;
    }
    case LOSS_NONE:
    case LOSS_COUNT:
        break;
    }
    assert(!"bad loss");
}

void loss_grad(loss_kind loss, activation_kind act, act_params ap, const float *z, const float *p,
               const float *y, const float *mask, int64_t rows, int64_t cols, double scale, float *dz)
{
    const float sc = (float)scale;
    bool softmax_fused = act == ACT_SOFTMAX &&
                         (loss == LOSS_MCXENT || loss == LOSS_NLL || loss == LOSS_KL);
    bool sigmoid_fused = act == ACT_SIGMOID && loss == LOSS_XENT;
    bool log_softmax_fused = act == ACT_LOG_SOFTMAX && loss == LOSS_NLL;
    for (int64_t r = 0; r < rows; r++) {
        const float *pr = p + r * cols, *yr = y + r * cols;
        float *dr = dz + r * cols;
        if (mask && mask[r] == 0.0f) {
            memset(dr, 0, (size_t)cols * sizeof(float));
            continue;
        }
        if (softmax_fused) {
            double ys = 0.0;
            for (int64_t j = 0; j < cols; j++)
                ys += yr[j];
            float ysf = (float)ys;
            for (int64_t j = 0; j < cols; j++)
                dr[j] = sc * (pr[j] * ysf - yr[j]);
        } else if (log_softmax_fused) {
            /* d/dz of -sum(y log_softmax(z)) = softmax(z) sum(y) - y, softmax(z) = e^p */
            double ys = 0.0;
            for (int64_t j = 0; j < cols; j++)
                ys += yr[j];
            float ysf = (float)ys;
            for (int64_t j = 0; j < cols; j++)
                dr[j] = sc * (expf(pr[j]) * ysf - yr[j]);
        } else if (sigmoid_fused) {
            for (int64_t j = 0; j < cols; j++)
                dr[j] = sc * (pr[j] - yr[j]);
        } else {
            row_grad_p(loss, pr, yr, cols, sc, dr);
            act_backward(act, ap, z ? z + r * cols : NULL, pr, dr, dr, 1, cols);
        }
    }
}

bool loss_supports(loss_kind loss, activation_kind act)
{
    switch (loss) {
    case LOSS_NLL:
        /* log_softmax: the outputs are the logarithms (PyTorch's LogSoftmax + NLLLoss) */
        if (act == ACT_LOG_SOFTMAX)
            return true;
        /* fall through */
    case LOSS_MCXENT:
    case LOSS_KL:
    case LOSS_XENT:
        /* logarithms of the outputs: they must lie in (0, 1) */
        return act == ACT_SOFTMAX || act == ACT_SIGMOID;
    case LOSS_MSE:
    case LOSS_L1:
    case LOSS_HINGE:
        return act < ACT_COUNT;
    case LOSS_NONE:
    case LOSS_COUNT:
        break;
    }
    return false;
}

const char *loss_supported_list(loss_kind loss, char *buf, size_t n)
{
    size_t used = 0;
    if (n == 0)
        return buf;
    buf[0] = '\0';
    for (int a = 0; a < ACT_COUNT; a++) {
        if (!loss_supports(loss, (activation_kind)a))
            continue;
        int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", activation_names[a]);
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
    }
    return buf;
}

double loss_layer_score(const struct layer *L, const tensor *out, const tensor *labels,
                        const float *label_mask)
{
    assert(out->ndim >= 2 && out->size == labels->size);
    int64_t cols = out->shape[out->ndim - 1];
    int64_t rows = cols > 0 ? out->size / cols : 0;
    int64_t batch = out->ndim == 3 ? out->shape[1] : out->shape[0];
    if (batch <= 0)
        return 0.0;
    return loss_value(L->loss, L->activation, out->data, labels->data, label_mask, rows, cols) /
           (double)batch;
}

bool loss_layer_has_score(const struct layer *L)
{
    return L && (L->type->flags & LT_LOSS) && L->loss != LOSS_NONE;
}
