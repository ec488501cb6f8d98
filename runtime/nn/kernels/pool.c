/* pool.c: windowed max and average pooling over NCHW planes (padding, ceil mode, the two avg
 * divisors), global max / avg / sum pooling over planes or masked time steps, shifted copies
 * of planes and nearest upsampling. */
#include "runtime/nn/kernels/pool.h"

#include <float.h>
#include <stddef.h>
#include <stdlib.h>
#include <strings.h>

#include "runtime/base/vectorize.h"

const char *const pool_kind_names[POOL_KIND_COUNT] = {"max", "avg", "sum"};

int pool_kind_from_name(const char *s)
{
    for (int k = 0; k < POOL_KIND_COUNT; k++)
        if (!strcasecmp(s, pool_kind_names[k]))
            return k;
    if (!strcasecmp(s, "average") || !strcasecmp(s, "mean"))
        return POOL_AVG;
    return -1;
}

int32_t *pool_argmax_reserve(void **state, int64_t n)
{
    if (!*state && !(*state = calloc(1, sizeof(pool_argmax))))
        return NULL;
    pool_argmax *a = *state;
    if (a->n != n) {
        free(a->at);
        a->n = 0;
        if (!(a->at = malloc((size_t)(n > 0 ? n : 1) * sizeof *a->at)))
            return NULL;
        a->n = n;
    }
    return a->at;
}

void pool_argmax_free(void **state)
{
    pool_argmax *a = *state;
    if (a)
        free(a->at);
    free(a);
    *state = NULL;
}

const int32_t *pool_argmax_of(const void *state, int64_t n)
{
    const pool_argmax *a = state;
    return a && a->n == n ? a->at : NULL;
}

int64_t pool_out_size(int64_t n, int64_t k, int64_t s, int64_t lo, int64_t hi, bool ceil_mode)
{
    int64_t span = n + lo + hi - k;
    if (span < 0 || s < 1)
        return 0;
    int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    /* the last window must start inside the input or its low padding */
    if (ceil_mode && (out - 1) * s >= n + lo)
        out--;
    return out;
}

/* The window of output cell (oy, ox): its rows [*y0, *y1) and columns [*x0, *x1) clipped to the
 * input; returns the divisor avg pooling uses. */
static int64_t window(const pool2d_geom *g, int64_t oy, int64_t ox, int64_t *y0, int64_t *y1,
                      int64_t *x0, int64_t *x1)
{
    int64_t ys = oy * g->sh - g->pt, xs = ox * g->sw - g->pl;
    int64_t ye = ys + g->kh, xe = xs + g->kw;
    /* cells of the padded input the window covers (PyTorch: clipped to the padded extent) */
    int64_t ype = ye < g->h + g->pb ? ye : g->h + g->pb;
    int64_t xpe = xe < g->w + g->pr ? xe : g->w + g->pr;
    int64_t padded = (ype - ys) * (xpe - xs);
    *y0 = ys > 0 ? ys : 0;
    *x0 = xs > 0 ? xs : 0;
    *y1 = ye < g->h ? ye : g->h;
    *x1 = xe < g->w ? xe : g->w;
    int64_t inside = (*y1 > *y0 && *x1 > *x0) ? (*y1 - *y0) * (*x1 - *x0) : 0;
    return g->count_padding ? padded : inside;
}

/* The input range [*lo, *hi) of window o along a dimension of n cells (start o * s - pad, k
 * cells), clipped to the input. */
static inline void clip_window(int64_t o, int64_t s, int64_t pad, int64_t k, int64_t n,
                               int64_t *lo, int64_t *hi)
{
    int64_t a = o * s - pad, e = a + k;
    *lo = a > 0 ? a : 0;
    *hi = e < n ? e : n;
}

/* Window ox of a row of 2 x 2 windows at stride 2 (see max2x2_row): its largest cell, the
 * first of equals, and that cell's place 0..3 (row-major in the window). Selections by bit
 * masks, without branches: the comparisons' outcomes are data, which a branch predictor cannot
 * learn, and the form lets a vectoriser take 8 or 16 windows at once. */
static inline __attribute__((always_inline)) void max2x2(const float *restrict r0,
                                                         const float *restrict r1, int64_t ox,
                                                         float *restrict y,
                                                         int32_t *restrict pos)
{
    const int64_t i = 2 * ox;
    float best = r0[i];
    int32_t k = 0;
    const float c1 = r0[i + 1], c2 = r1[i], c3 = r1[i + 1];
    int32_t m = -(int32_t)(c1 > best);
    best = vec_select(m, c1, best);
    k = (k & ~m) | (1 & m);
    m = -(int32_t)(c2 > best);
    best = vec_select(m, c2, best);
    k = (k & ~m) | (2 & m);
    m = -(int32_t)(c3 > best);
    best = vec_select(m, c3, best);
    k = (k & ~m) | (3 & m);
    y[ox] = best;
    pos[ox] = k;
}

/* One output row of 2 x 2 windows at stride 2 that all lie inside the input: r0 and r1 the two
 * input rows; pos[ox] receives the place of the largest cell in window ox (as max2x2). */
VEC_CLONES static void max2x2_row(const float *restrict r0, const float *restrict r1, int64_t ow,
                                  float *restrict y, int32_t *restrict pos)
{
    int64_t ox = 0;
    for (; ox + 16 <= ow; ox += 16)
        for (int64_t j = 0; j < 16; j++)
            max2x2(r0, r1, ox + j, y, pos);
    for (; ox < ow; ox++)
        max2x2(r0, r1, ox, y, pos);
}

void maxpool2d_forward(const pool2d_geom *g, int64_t batch, const float *x, float *y,
                       int32_t *argmax)
{
    const int64_t plane = g->h * g->w, oplane = g->oh * g->ow, w = g->w;
    /* 2 x 2 at stride 2 without padding, every window inside: the common case, unrolled */
    const bool pairs = g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && !g->pt &&
                       !g->pl && 2 * g->oh <= g->h && 2 * g->ow <= g->w;
    int32_t pos[256];
    for (int64_t p = 0; p < batch * g->c; p++) {
        const float *xp = x + p * plane;
        float *yp = y + p * oplane;
        int32_t *ap = argmax ? argmax + p * oplane : NULL;
        for (int64_t oy = 0; oy < g->oh; oy++) {
            float *yr = yp + oy * g->ow;
            int32_t *ar = ap ? ap + oy * g->ow : NULL;
            if (pairs) {
                const int64_t off = 2 * oy * w;
                for (int64_t o0 = 0; o0 < g->ow; o0 += 256) {
                    const int64_t n = g->ow - o0 < 256 ? g->ow - o0 : 256;
                    max2x2_row(xp + off + 2 * o0, xp + off + w + 2 * o0, n, yr + o0, pos);
                    if (ar)
                        for (int64_t j = 0; j < n; j++)
                            ar[o0 + j] = (int32_t)(off + (pos[j] >> 1) * w + 2 * (o0 + j) +
                                                   (pos[j] & 1));
                }
                continue;
            }
            int64_t y0, y1;
            clip_window(oy, g->sh, g->pt, g->kh, g->h, &y0, &y1);
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t x0, x1;
                clip_window(ox, g->sw, g->pl, g->kw, w, &x0, &x1);
                if (y0 >= y1 || x0 >= x1) {
                    /* a window entirely in the padding */
                    yr[ox] = 0.0f;
                    if (ar)
                        ar[ox] = -1;
                    continue;
                }
                /* the first cell, then any strictly larger one (a NaN first cell stays) */
                int64_t at = y0 * w + x0;
                float best = xp[at];
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) {
                        const float v = xp[iy * w + ix];
                        if (v > best) {
                            best = v;
                            at = iy * w + ix;
                        }
                    }
                yr[ox] = best;
                if (ar)
                    ar[ox] = (int32_t)at;
            }
        }
    }
}

void maxpool2d_backward(const pool2d_geom *g, int64_t batch, const int32_t *argmax,
                        const float *dy, float *dx)
{
    const int64_t plane = g->h * g->w, oplane = g->oh * g->ow;
    for (int64_t p = 0; p < batch * g->c; p++)
        for (int64_t o = 0; o < oplane; o++) {
            int32_t at = argmax[p * oplane + o];
            if (at >= 0)
                dx[p * plane + at] += dy[p * oplane + o];
        }
}

void avgpool2d_forward(const pool2d_geom *g, int64_t batch, const float *x, float *y)
{
    const int64_t plane = g->h * g->w, oplane = g->oh * g->ow;
    for (int64_t p = 0; p < batch * g->c; p++) {
        const float *xp = x + p * plane;
        float *yp = y + p * oplane;
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t y0, y1, x0, x1;
                int64_t div = window(g, oy, ox, &y0, &y1, &x0, &x1);
                double s = 0.0;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        s += xp[iy * g->w + ix];
                yp[oy * g->ow + ox] = div > 0 ? (float)(s / (double)div) : 0.0f;
            }
    }
}

void avgpool2d_backward(const pool2d_geom *g, int64_t batch, const float *dy, float *dx)
{
    const int64_t plane = g->h * g->w, oplane = g->oh * g->ow;
    for (int64_t p = 0; p < batch * g->c; p++) {
        float *dxp = dx + p * plane;
        const float *dyp = dy + p * oplane;
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t y0, y1, x0, x1;
                int64_t div = window(g, oy, ox, &y0, &y1, &x0, &x1);
                if (div <= 0)
                    continue;
                float share = dyp[oy * g->ow + ox] / (float)div;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        dxp[iy * g->w + ix] += share;
            }
    }
}

void global_pool_planes(pool_kind k, int64_t batch, int64_t c, int64_t hw, const float *x,
                        float *y, int32_t *argmax)
{
    for (int64_t p = 0; p < batch * c; p++) {
        const float *xp = x + p * hw;
        if (k == POOL_MAX) {
            int64_t at = 0;
            for (int64_t i = 1; i < hw; i++)
                if (xp[i] > xp[at])
                    at = i;
            y[p] = hw > 0 ? xp[at] : 0.0f;
            if (argmax)
                argmax[p] = hw > 0 ? (int32_t)at : -1;
            continue;
        }
        double s = 0.0;
        for (int64_t i = 0; i < hw; i++)
            s += xp[i];
        y[p] = (float)(k == POOL_AVG && hw > 0 ? s / (double)hw : s);
    }
}

void global_pool_planes_backward(pool_kind k, int64_t batch, int64_t c, int64_t hw,
                                 const int32_t *argmax, const float *dy, float *dx)
{
    for (int64_t p = 0; p < batch * c; p++) {
        float *dxp = dx + p * hw;
        if (k == POOL_MAX) {
            if (argmax[p] >= 0)
                dxp[argmax[p]] += dy[p];
            continue;
        }
        float g = k == POOL_AVG && hw > 0 ? dy[p] / (float)hw : dy[p];
        for (int64_t i = 0; i < hw; i++)
            dxp[i] += g;
    }
}

/* The valid steps of example b. */
static int64_t valid_steps(int64_t t, int64_t batch, int64_t b, const float *mask)
{
    if (!mask)
        return t;
    int64_t n = 0;
    for (int64_t s = 0; s < t; s++)
        n += mask[s * batch + b] != 0.0f;
    return n;
}

void global_pool_time(pool_kind k, int64_t t, int64_t batch, int64_t f, const float *x,
                      const float *mask, float *y, int32_t *argmax)
{
    for (int64_t b = 0; b < batch; b++) {
        int64_t n = valid_steps(t, batch, b, mask);
        for (int64_t j = 0; j < f; j++) {
            double s = 0.0;
            float best = 0.0f;
            int64_t at = -1;
            for (int64_t st = 0; st < t; st++) {
                if (mask && mask[st * batch + b] == 0.0f)
                    continue;
                float v = x[(st * batch + b) * f + j];
                s += v;
                if (at < 0 || v > best) {
                    best = v;
                    at = st;
                }
            }
            float *out = y + b * f + j;
            if (k == POOL_MAX)
                *out = best;
            else
                *out = (float)(k == POOL_AVG ? (n > 0 ? s / (double)n : 0.0) : s);
            if (argmax)
                argmax[b * f + j] = (int32_t)at;
        }
    }
}

void global_pool_time_backward(pool_kind k, int64_t t, int64_t batch, int64_t f,
                               const float *mask, const int32_t *argmax, const float *dy,
                               float *dx)
{
    for (int64_t b = 0; b < batch; b++) {
        int64_t n = valid_steps(t, batch, b, mask);
        for (int64_t j = 0; j < f; j++) {
            float g = dy[b * f + j];
            if (k == POOL_MAX) {
                int32_t at = argmax[b * f + j];
                if (at >= 0)
                    dx[((int64_t)at * batch + b) * f + j] += g;
                continue;
            }
            if (k == POOL_AVG)
                g = n > 0 ? g / (float)n : 0.0f;
            for (int64_t st = 0; st < t; st++)
                if (!mask || mask[st * batch + b] != 0.0f)
                    dx[(st * batch + b) * f + j] += g;
        }
    }
}

/* The rows [*r0, *r1) of the output that come from inside the input, shifted by off. */
static void shift_range(int64_t n, int64_t on, int64_t off, int64_t *r0, int64_t *r1)
{
    *r0 = off > 0 ? off : 0;
    *r1 = n + off < on ? n + off : on;
    if (*r1 < *r0)
        *r1 = *r0;
}

void planes_shift(int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t top,
                  int64_t left, const float *x, float *y)
{
    int64_t r0, r1, c0, c1;
    shift_range(h, oh, top, &r0, &r1);
    shift_range(w, ow, left, &c0, &c1);
    for (int64_t p = 0; p < planes; p++) {
        float *yp = y + p * oh * ow;
        const float *xp = x + p * h * w;
        for (int64_t r = 0; r < oh; r++)
            for (int64_t c = 0; c < ow; c++)
                yp[r * ow + c] = r >= r0 && r < r1 && c >= c0 && c < c1
                                     ? xp[(r - top) * w + (c - left)] : 0.0f;
    }
}

void planes_shift_backward(int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow,
                           int64_t top, int64_t left, const float *dy, float *dx)
{
    int64_t r0, r1, c0, c1;
    shift_range(h, oh, top, &r0, &r1);
    shift_range(w, ow, left, &c0, &c1);
    for (int64_t p = 0; p < planes; p++) {
        const float *dyp = dy + p * oh * ow;
        float *dxp = dx + p * h * w;
        for (int64_t r = r0; r < r1; r++)
            for (int64_t c = c0; c < c1; c++)
                dxp[(r - top) * w + (c - left)] += dyp[r * ow + c];
    }
}

void planes_upsample(int64_t planes, int64_t h, int64_t w, int64_t sh, int64_t sw,
                     const float *x, float *y)
{
    const int64_t ow = w * sw;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t r = 0; r < h * sh; r++)
            for (int64_t c = 0; c < ow; c++)
                y[(p * h * sh + r) * ow + c] = x[(p * h + r / sh) * w + c / sw];
}

void planes_upsample_backward(int64_t planes, int64_t h, int64_t w, int64_t sh, int64_t sw,
                              const float *dy, float *dx)
{
    const int64_t ow = w * sw;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t r = 0; r < h * sh; r++)
            for (int64_t c = 0; c < ow; c++)
                dx[(p * h + r / sh) * w + c / sw] += dy[(p * h * sh + r) * ow + c];
}
