/* conv.c: 2-D convolution over NCHW data by im2col and sgemm, forward and backward, and the
 * geometry (output size, `same` padding) of a convolution. */
#include "runtime/nn/kernels/conv.h"

#include <cblas.h>
#include <stdbool.h>
#include <string.h>

#include "runtime/base/vectorize.h"
#include "runtime/nn/kernels/activation.h"
#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/kernels/parallel.h"
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

/* The im2col matrix of a chunk of images holds at most this many floats (unless one image
 * alone needs more): few enough to stay small beside the activations, enough that a batch of
 * small images makes one matrix product instead of one an image. */
#ifndef CONV_CHUNK_FLOATS
#define CONV_CHUNK_FLOATS ((int64_t)1 << 23)
#endif

/* Images per matrix product: as many as the im2col budget allows, at least one. */
static int64_t chunk_images(const conv_geom *g, int64_t batch)
{
    const int64_t per = col_rows(g) * g->h_out * g->w_out;
    int64_t nb = per > 0 ? CONV_CHUNK_FLOATS / per : batch;
    nb = nb < 1 ? 1 : nb;
    return nb < batch ? nb : (batch > 0 ? batch : 1);
}

int64_t conv_scratch_size(const conv_geom *g, int64_t batch)
{
    const int64_t nb = chunk_images(g, batch), hw = g->h_out * g->w_out;
    /* forward: the im2col matrix of one image a thread; backward: col and dcol [K, nb * hw]
     * and the product of a group [c_out / groups, nb * hw] */
    const int64_t fwd = par_threads(batch) * col_rows(g) * hw;
    const int64_t bwd = (2 * col_rows(g) + g->c_out / g->groups) * nb * hw;
    return fwd > bwd ? fwd : bwd;
}

/* Whether the im2col matrix of one image is the input itself (a 1 x 1 kernel, stride 1, no
 * padding). */
static int col_is_input(const conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && !g->pt && !g->pl &&
           !g->pb && !g->pr;
}

/* The output columns [*lo, *hi) whose input column ox * sw + off lies inside [0, w_in). */
static void inside_cols(const conv_geom *g, int64_t off, int64_t *lo, int64_t *hi)
{
    /* ox * sw + off >= 0 and ox * sw + off < w_in */
    int64_t a = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
    int64_t b = g->w_in - off <= 0 ? 0 : (g->w_in - off + g->sw - 1) / g->sw;
    b = b < g->w_out ? b : g->w_out;
    *lo = a < b ? a : b;
    *hi = b;
}

/* d[i * s] += r[i] for i in [0, n): one row of col2im (separate arrays). */
static void add_row(float *restrict d, const float *restrict r, int64_t n, int64_t s)
{
    if (s == 1)
        for (int64_t i = 0; i < n; i++)
            d[i] += r[i];
    else
        for (int64_t i = 0; i < n; i++)
            d[i * s] += r[i];
}

/* r[i] = x[i * s] for i in [0, n): one row of im2col. */
static void take_row(float *restrict r, const float *restrict x, int64_t n, int64_t s)
{
    if (s == 1)
        memcpy(r, x, (size_t)n * sizeof *r);
    else
        for (int64_t i = 0; i < n; i++)
            r[i] = x[i * s];
}

/* col [cg * kh * kw, ld] from the cg channels at x (one image, one group): each row's h_out *
 * w_out cells, at column 0 of col (col points at the image's first column in a chunk). */
static void im2col(const conv_geom *g, int64_t cg, const float *x, float *col, int64_t ld)
{
    for (int64_t c = 0; c < cg; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                float *row = col + ((c * g->kh + i) * g->kw + j) * ld;
                const float *xc = x + c * g->h_in * g->w_in;
                const int64_t off = j * g->dw - g->pl;
                int64_t lo, hi;
                inside_cols(g, off, &lo, &hi);
                for (int64_t oy = 0; oy < g->h_out; oy++) {
                    float *r = row + oy * g->w_out;
                    int64_t iy = oy * g->sh - g->pt + i * g->dh;
                    if (iy < 0 || iy >= g->h_in) {
                        memset(r, 0, (size_t)g->w_out * sizeof *r);
                        continue;
                    }
                    const float *xr = xc + iy * g->w_in;
                    for (int64_t ox = 0; ox < lo; ox++)
                        r[ox] = 0.0f;
                    if (hi > lo)
                        take_row(r + lo, xr + lo * g->sw + off, hi - lo, g->sw);
                    for (int64_t ox = hi; ox < g->w_out; ox++)
                        r[ox] = 0.0f;
                }
            }
}

/* dx += col2im(dcol): the transpose of im2col (dcol's rows ld apart). */
static void col2im_add(const conv_geom *g, int64_t cg, const float *dcol, int64_t ld, float *dx)
{
    for (int64_t c = 0; c < cg; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                const float *row = dcol + ((c * g->kh + i) * g->kw + j) * ld;
                float *dxc = dx + c * g->h_in * g->w_in;
                const int64_t off = j * g->dw - g->pl;
                int64_t lo, hi;
                inside_cols(g, off, &lo, &hi);
                for (int64_t oy = 0; oy < g->h_out; oy++) {
                    int64_t iy = oy * g->sh - g->pt + i * g->dh;
                    if (iy < 0 || iy >= g->h_in)
                        continue;
                    const float *r = row + oy * g->w_out;
                    float *dxr = dxc + iy * g->w_in;
                    if (hi > lo)
                        add_row(dxr + lo * g->sw + off, r + lo, hi - lo, g->sw);
                }
            }
}

/* The im2col matrix of group gi of images [n0, n0 + nb) ([K, nb * hw_out]; for one image of a
 * 1 x 1 convolution, the input itself). */
static const float *chunk_col(const conv_geom *g, const float *x, int64_t n0, int64_t nb,
                              int64_t gi, float *col)
{
    const int64_t cg = g->c_in / g->groups, hw_in = g->h_in * g->w_in;
    const int64_t hw_out = g->h_out * g->w_out;
    if (nb == 1 && col_is_input(g))
        return x + n0 * g->c_in * hw_in + gi * cg * hw_in;
    for (int64_t n = 0; n < nb; n++)
        im2col(g, cg, x + (n0 + n) * g->c_in * hw_in + gi * cg * hw_in, col + n * hw_out,
               nb * hw_out);
    return col;
}

typedef struct fwd_job {
    const conv_geom *g;
    const float *x, *W, *b;
    float *y, *scratch;
    const conv_act *act;
} fwd_job;

/* Images [lo, hi) of a forward, with the im2col scratch of thread `part`. */
static void forward_images(void *ctx, int part, int64_t lo, int64_t hi)
{
    const fwd_job *j = ctx;
    const conv_geom *g = j->g;
    const int64_t og = g->c_out / g->groups, K = col_rows(g);
    const int64_t hw_out = g->h_out * g->w_out;
    float *col = j->scratch + part * K * hw_out;
    for (int64_t n = lo; n < hi; n++)
        for (int64_t gi = 0; gi < g->groups; gi++) {
            const float *m = chunk_col(g, j->x, n, 1, gi, col);
            float *to = j->y + (n * g->c_out + gi * og) * hw_out;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)og, (int)hw_out, (int)K,
                        1.0f, j->W + gi * og * K, (int)K, m, (int)hw_out, 0.0f, to,
                        (int)hw_out);
            if (j->b)
                for (int64_t k = 0; k < og; k++) {
                    float *r = to + k * hw_out;
                    const float bk = j->b[gi * og + k];
                    for (int64_t p = 0; p < hw_out; p++)
                        r[p] += bk;
                }
        }
    /* the activation of the images while they are in cache */
    const conv_act *a = j->act;
    if (!a || (a->kind == ACT_IDENTITY && !a->z))
        return;
    const int64_t cells = g->c_out * hw_out;
    float *y = j->y + lo * cells;
    if (a->z)
        memcpy(a->z + lo * cells, y, (size_t)((hi - lo) * cells) * sizeof(float));
    act_forward(a->kind, a->params, y, y, (hi - lo) * g->c_out, hw_out);
}

/* One product an image (the same shapes for every image, so that an image's output does not
 * depend on the batch it comes in: OpenBLAS's sums depend on a cell's place in the product),
 * the images split across threads. */
void conv_forward(const conv_geom *g, int64_t batch, const float *x, const float *W,
                  const float *b, const conv_act *act, float *y, float *scratch)
{
    fwd_job j = {.g = g, .x = x, .W = W, .b = b, .y = y, .scratch = scratch, .act = act};
    par_run(batch, forward_images, &j);
}

/* The sum of v[0, n): sixteen partial sums (lanes j, j + 16, ...) added in a fixed order at the
 * end, so that a vectoriser may take them as vectors of any width with the same result. */
VEC_CLONES static float sum_lanes(const float *restrict v, int64_t n)
{
    float part[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++)
            part[j] += v[i + j];
    for (int j = 0; i < n; i++, j++)
        part[j] += v[i];
    float s = 0.0f;
    for (int j = 0; j < 16; j++)
        s += part[j];
    return s;
}

/* The part of a backward chunk done image by image: its dy rows into the group's product
 * matrix, its im2col matrix, and col2im of its dcol columns. */
typedef struct bwd_job {
    const conv_geom *g;
    const float *x, *dy, *dcol;
    float *col, *dprod, *dx;
    int64_t n0, nb, gi;
} bwd_job;

static void backward_prepare(void *ctx, int part, int64_t lo, int64_t hi)
{
    (void)part;
    const bwd_job *j = ctx;
    const conv_geom *g = j->g;
    const int64_t og = g->c_out / g->groups, cg = g->c_in / g->groups;
    const int64_t hw_in = g->h_in * g->w_in, hw_out = g->h_out * g->w_out, ld = j->nb * hw_out;
    for (int64_t n = lo; n < hi; n++) {
        if (j->dprod)
            for (int64_t k = 0; k < og; k++)
                memcpy(j->dprod + k * ld + n * hw_out,
                       j->dy + ((j->n0 + n) * g->c_out + j->gi * og + k) * hw_out,
                       (size_t)hw_out * sizeof(float));
        if (j->col)
            im2col(g, cg, j->x + (j->n0 + n) * g->c_in * hw_in + j->gi * cg * hw_in,
                   j->col + n * hw_out, ld);
    }
}

static void backward_col2im(void *ctx, int part, int64_t lo, int64_t hi)
{
    (void)part;
    const bwd_job *j = ctx;
    const conv_geom *g = j->g;
    const int64_t cg = g->c_in / g->groups, hw_in = g->h_in * g->w_in;
    const int64_t hw_out = g->h_out * g->w_out, ld = j->nb * hw_out;
    for (int64_t n = lo; n < hi; n++)
        col2im_add(g, cg, j->dcol + n * hw_out, ld,
                   j->dx + (j->n0 + n) * g->c_in * hw_in + j->gi * cg * hw_in);
}

/* The least im2col matrix (floats) of a backward chunk that is split across threads. */
#define PAR_MIN_FLOATS ((int64_t)1 << 16)

void conv_backward(const conv_geom *g, int64_t batch, const float *x, const float *W,
                   const float *dy, float *dx, float *dW, float *db, float *scratch)
{
    const int64_t cg = g->c_in / g->groups, og = g->c_out / g->groups, K = col_rows(g);
    const int64_t hw_in = g->h_in * g->w_in, hw_out = g->h_out * g->w_out;
    const int64_t nb_max = chunk_images(g, batch);
    float *col = scratch, *dcol = scratch + K * nb_max * hw_out;
    float *dprod = scratch + 2 * K * nb_max * hw_out;
    if (db)
        for (int64_t n = 0; n < batch; n++) {
            const float *dyn = dy + n * g->c_out * hw_out;
            for (int64_t k = 0; k < g->c_out; k++)
                db[k] += sum_lanes(dyn + k * hw_out, hw_out);
        }
    if (!dW && !dx)
        return;
    for (int64_t n0 = 0; n0 < batch; n0 += nb_max) {
        const int64_t nb = batch - n0 < nb_max ? batch - n0 : nb_max, ld = nb * hw_out;
        for (int64_t gi = 0; gi < g->groups; gi++) {
            /* dy of the group's channels as one [og, nb * hw_out] matrix, and the im2col
             * matrix of the chunk (one image of a 1 x 1 convolution: dy and x themselves) */
            const bool direct = nb == 1 && col_is_input(g);
            const float *dyg = dy + n0 * g->c_out * hw_out + gi * og * hw_out;
            const float *m = x + n0 * g->c_in * hw_in + gi * cg * hw_in;
            bwd_job j = {.g = g, .x = x, .dy = dy, .dcol = dcol, .dx = dx, .n0 = n0, .nb = nb,
                         .gi = gi, .dprod = nb > 1 ? dprod : NULL,
                         .col = dW && !direct ? col : NULL};
            /* threads for a chunk worth starting them (a depthwise layer has many small
             * groups); an image's copies are the same on any thread */
            const bool split = K * ld >= PAR_MIN_FLOATS;
            if ((j.dprod || j.col) && split)
                par_run(nb, backward_prepare, &j);
            else if (j.dprod || j.col)
                backward_prepare(&j, 0, 0, nb);
            if (j.dprod)
                dyg = dprod;
            if (j.col)
                m = col;
            const float *Wg = W + gi * og * K;
            if (dW)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)og, (int)K, (int)ld,
                            1.0f, dyg, (int)ld, m, (int)ld, 1.0f, dW + gi * og * K, (int)K);
            if (!dx)
                continue;
            float *dxg = dx + n0 * g->c_in * hw_in + gi * cg * hw_in;
            if (direct) {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)hw_out, (int)og,
                            1.0f, Wg, (int)K, dyg, (int)hw_out, 1.0f, dxg, (int)hw_out);
                continue;
            }
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)ld, (int)og, 1.0f,
                        Wg, (int)K, dyg, (int)ld, 0.0f, dcol, (int)ld);
            if (split)
                par_run(nb, backward_col2im, &j);
            else
                backward_col2im(&j, 0, 0, nb);
        }
    }
}
