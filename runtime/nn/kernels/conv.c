/* conv.c: 2-D convolution over NCHW data by im2col and sgemm, forward and backward, and the
 * geometry (output size, `same` padding) of a convolution. */
#include "runtime/nn/kernels/conv.h"

#include <cblas.h>
#include <string.h>

#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/layer_option.h"

/* One dimension: the padding before and after and the output size. */
static int64_t plan_dim(int mode, int64_t in, int64_t k, int64_t s, int64_t d, int64_t *lo,
                        int64_t *hi)
{
    int64_t span = d * (k - 1) + 1;
    if (mode == PAD_SAME) {
        int64_t out = (in + s - 1) / s;
        int64_t total = (out - 1) * s + span - in;
        if (total < 0)
            total = 0;
        *lo = total / 2;
        *hi = total - *lo;
        return out;
    }
    if (mode == PAD_VALID)
        *lo = *hi = 0;
    int64_t padded = in + *lo + *hi;
    return padded < span ? 0 : (padded - span) / s + 1;
}

int conv_geom_complete(conv_geom *g, int mode, const int64_t *sides, char *msg, size_t msg_len)
{
    g->pt = g->pl = g->pb = g->pr = 0;
    if (mode == PAD_EXPLICIT) {
        g->pt = sides[0];
        g->pl = sides[1];
        g->pb = sides[2];
        g->pr = sides[3];
    }
    g->h_out = plan_dim(mode, g->h_in, g->kh, g->sh, g->dh, &g->pt, &g->pb);
    g->w_out = plan_dim(mode, g->w_in, g->kw, g->sw, g->dw, &g->pl, &g->pr);
    if (g->h_out < 1 || g->w_out < 1)
        return layer_msg(msg, msg_len, "its %lld x %lld kernel (dilation %lld x %lld) does not "
                        "fit the %lld x %lld input padded by [%lld, %lld, %lld, %lld]",
                        (long long)g->kh, (long long)g->kw, (long long)g->dh, (long long)g->dw,
                        (long long)g->h_in, (long long)g->w_in, (long long)g->pt,
                        (long long)g->pl, (long long)g->pb, (long long)g->pr);
    return 0;
}

/* Rows of the im2col matrix of one group: (c_in / groups) * kh * kw. */
static int64_t col_rows(const conv_geom *g) { return g->c_in / g->groups * g->kh * g->kw; }

int64_t conv_scratch_size(const conv_geom *g)
{
    return 2 * col_rows(g) * g->h_out * g->w_out;
}

/* Whether the im2col matrix is the input itself (a 1 x 1 kernel, stride 1, no padding). */
static int col_is_input(const conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && !g->pt && !g->pl &&
           !g->pb && !g->pr;
}

/* col [cg * kh * kw, h_out * w_out] from the cg channels at x (one image, one group). */
static void im2col(const conv_geom *g, int64_t cg, const float *x, float *col)
{
    const int64_t hw_out = g->h_out * g->w_out;
    for (int64_t c = 0; c < cg; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                float *row = col + ((c * g->kh + i) * g->kw + j) * hw_out;
                const float *xc = x + c * g->h_in * g->w_in;
                for (int64_t oy = 0; oy < g->h_out; oy++) {
                    float *r = row + oy * g->w_out;
                    int64_t iy = oy * g->sh - g->pt + i * g->dh;
                    if (iy < 0 || iy >= g->h_in) {
                        memset(r, 0, (size_t)g->w_out * sizeof *r);
                        continue;
                    }
                    const float *xr = xc + iy * g->w_in;
                    int64_t ix = j * g->dw - g->pl;
                    for (int64_t ox = 0; ox < g->w_out; ox++, ix += g->sw)
                        r[ox] = ix >= 0 && ix < g->w_in ? xr[ix] : 0.0f;
                }
            }
}

/* dx += col2im(dcol): the transpose of im2col. */
static void col2im_add(const conv_geom *g, int64_t cg, const float *dcol, float *dx)
{
    const int64_t hw_out = g->h_out * g->w_out;
    for (int64_t c = 0; c < cg; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                const float *row = dcol + ((c * g->kh + i) * g->kw + j) * hw_out;
                float *dxc = dx + c * g->h_in * g->w_in;
                for (int64_t oy = 0; oy < g->h_out; oy++) {
                    int64_t iy = oy * g->sh - g->pt + i * g->dh;
                    if (iy < 0 || iy >= g->h_in)
                        continue;
                    const float *r = row + oy * g->w_out;
                    float *dxr = dxc + iy * g->w_in;
                    int64_t ix = j * g->dw - g->pl;
                    for (int64_t ox = 0; ox < g->w_out; ox++, ix += g->sw)
                        if (ix >= 0 && ix < g->w_in)
                            dxr[ix] += r[ox];
                }
            }
}

void conv_forward(const conv_geom *g, int64_t batch, const float *x, const float *W,
                  const float *b, float *y, float *col)
{
    const int64_t cg = g->c_in / g->groups, og = g->c_out / g->groups, K = col_rows(g);
    const int64_t hw_in = g->h_in * g->w_in, hw_out = g->h_out * g->w_out;
    const int direct = col_is_input(g);
    for (int64_t n = 0; n < batch; n++) {
        const float *xn = x + n * g->c_in * hw_in;
        float *yn = y + n * g->c_out * hw_out;
        for (int64_t k = 0; k < g->c_out; k++) {
            float v = b ? b[k] : 0.0f;
            for (int64_t p = 0; p < hw_out; p++)
                yn[k * hw_out + p] = v;
        }
        for (int64_t gi = 0; gi < g->groups; gi++) {
            const float *xg = xn + gi * cg * hw_in;
            const float *m = xg;
            if (!direct) {
                im2col(g, cg, xg, col);
                m = col;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)og, (int)hw_out, (int)K,
                        1.0f, W + gi * og * K, (int)K, m, (int)hw_out, 1.0f,
                        yn + gi * og * hw_out, (int)hw_out);
        }
    }
}

void conv_backward(const conv_geom *g, int64_t batch, const float *x, const float *W,
                   const float *dy, float *dx, float *dW, float *db, float *col)
{
    const int64_t cg = g->c_in / g->groups, og = g->c_out / g->groups, K = col_rows(g);
    const int64_t hw_in = g->h_in * g->w_in, hw_out = g->h_out * g->w_out;
    const int direct = col_is_input(g);
    float *dcol = col + K * hw_out;
    for (int64_t n = 0; n < batch; n++) {
        const float *xn = x + n * g->c_in * hw_in;
        const float *dyn = dy + n * g->c_out * hw_out;
        if (db)
            for (int64_t k = 0; k < g->c_out; k++) {
                float s = 0.0f;
                for (int64_t p = 0; p < hw_out; p++)
                    s += dyn[k * hw_out + p];
                db[k] += s;
            }
        for (int64_t gi = 0; gi < g->groups; gi++) {
            const float *dyg = dyn + gi * og * hw_out;
            const float *Wg = W + gi * og * K;
            if (dW) {
                const float *m = xn + gi * cg * hw_in;
                if (!direct) {
                    im2col(g, cg, m, col);
                    m = col;
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)og, (int)K, (int)hw_out,
                            1.0f, dyg, (int)hw_out, m, (int)hw_out, 1.0f, dW + gi * og * K, (int)K);
            }
            if (!dx)
                continue;
            float *dxg = dx + n * g->c_in * hw_in + gi * cg * hw_in;
            if (direct) {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)hw_out, (int)og,
                            1.0f, Wg, (int)K, dyg, (int)hw_out, 1.0f, dxg, (int)hw_out);
                continue;
            }
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)hw_out, (int)og,
                        1.0f, Wg, (int)K, dyg, (int)hw_out, 0.0f, dcol, (int)hw_out);
            col2im_add(g, cg, dcol, dxg);
        }
    }
}
