/* onnx_lstm.c: re-orders an LSTM's gate blocks and peepholes between surgery's layout and
 * ONNX's, both ways (onnx_lstm.h). */
#include "runtime/formats/onnx/onnx_lstm.h"

#include <stdlib.h>

/* Surgery's blocks a (= c), f, o, i are ONNX's blocks 3, 2, 1, 0 (i, o, f, c). */
static const int onnx_block[4] = {3, 2, 1, 0};

int onnx_lstm_to_onnx(const float *W, const float *RW, const float *b, int64_t in, int64_t h,
                      bool peepholes, onnx_lstm_weights *o)
{
    const int64_t cols = 4 * h + (peepholes ? 3 : 0);
    o->w = malloc((size_t)(4 * h * in + 1) * sizeof(float));
    o->r = malloc((size_t)(4 * h * h + 1) * sizeof(float));
    o->b = b ? calloc((size_t)(8 * h), sizeof(float)) : NULL;
    o->p = peepholes ? malloc((size_t)(3 * h) * sizeof(float)) : NULL;
    if (!o->w || !o->r || (b && !o->b) || (peepholes && !o->p)) {
        onnx_lstm_weights_free(o);
        return -1;
    }
    for (int blk = 0; blk < 4; blk++)
        for (int64_t u = 0; u < h; u++) {
            int64_t src = blk * h + u, dst = onnx_block[blk] * h + u;
            for (int64_t k = 0; k < in; k++)
                o->w[dst * in + k] = W[k * 4 * h + src];
            for (int64_t k = 0; k < h; k++)
                o->r[dst * h + k] = RW[k * cols + src];
            if (b)
                o->b[dst] = b[src];
        }
    for (int64_t u = 0; peepholes && u < h; u++) {
        o->p[u] = RW[u * cols + 4 * h + 2];           /* i */
        o->p[h + u] = RW[u * cols + 4 * h + 1];       /* o */
        o->p[2 * h + u] = RW[u * cols + 4 * h];       /* f */
    }
    return 0;
}

void onnx_lstm_weights_free(onnx_lstm_weights *o)
{
    free(o->w);
    free(o->r);
    free(o->b);
    free(o->p);
    o->w = o->r = o->b = o->p = NULL;
}

void onnx_lstm_from_onnx(const float *w, const float *r, const float *b, const float *p,
                         int64_t in, int64_t h, bool peepholes, float *W, float *RW, float *bias)
{
    const int64_t cols = 4 * h + (peepholes ? 3 : 0);
    for (int blk = 0; blk < 4; blk++)
        for (int64_t u = 0; u < h; u++) {
            int64_t src = onnx_block[blk] * h + u, dst = blk * h + u;
            for (int64_t k = 0; k < in; k++)
                W[k * 4 * h + dst] = w[src * in + k];
            for (int64_t k = 0; k < h; k++)
                RW[k * cols + dst] = r[src * h + k];
            if (bias)
                bias[dst] = b ? b[src] + b[4 * h + src] : 0.0f;
        }
    for (int64_t u = 0; peepholes && u < h; u++) {
        RW[u * cols + 4 * h] = p ? p[2 * h + u] : 0.0f;
        RW[u * cols + 4 * h + 1] = p ? p[h + u] : 0.0f;
        RW[u * cols + 4 * h + 2] = p ? p[u] : 0.0f;
    }
}
