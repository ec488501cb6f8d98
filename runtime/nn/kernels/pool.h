/* pool.h: pooling and the other spatial kernels over NCHW activations (max and average windows with padding and ceil mode, as
 * DL4J's SubsamplingLayer and PyTorch's max_pool2d / avg_pool2d) and global pooling over the
 * height and width of NCHW data or the time steps of masked time-major sequences; shifted copies
 * (zero padding, cropping) and nearest upsampling; forward and backward. */
#ifndef SURGERY_POOL_H
#define SURGERY_POOL_H

#include <stdbool.h>
#include <stdint.h>

/* Ownership: no state; every buffer is borrowed for the duration of the call. Backward
 * functions ADD into dx. */

typedef enum { POOL_MAX, POOL_AVG, POOL_SUM, POOL_KIND_COUNT } pool_kind;
/* "max", "avg", "sum" (the `pooling` option's names); pool_kind_from_name also takes
 * "average" and "mean" for avg, ignoring case as DL4J's enum names; -1 when unknown. */
extern const char *const pool_kind_names[POOL_KIND_COUNT];
int pool_kind_from_name(const char *s);

/* The geometry of a windowed pooling over [batch, c, h, w] into [batch, c, oh, ow]. */
typedef struct pool2d_geom {
    int64_t c, h, w;
    int64_t kh, kw, sh, sw;
    int64_t pt, pl, pb, pr;       /* padding: top, left, bottom, right */
    int64_t oh, ow;               /* from pool_out_size */
    bool count_padding;           /* avg: divide by the window's cells inside the padded input
                                   * (PyTorch's count_include_pad, DL4J's
                                   * avgPoolIncludePadInDivisor) instead of its input cells */
} pool2d_geom;

/* What max pooling's backward needs: the cell each output took, kept by a layer as its forward
 * cache (L->state). */
typedef struct pool_argmax {
    int32_t *at;
    int64_t n;
} pool_argmax;
/* The argmax of *state (allocated on first use) with room for n outputs; NULL when memory runs
 * out. */
int32_t *pool_argmax_reserve(void **state, int64_t n);
/* Releases an argmax state; *state becomes NULL. */
void pool_argmax_free(void **state);
/* The argmax of the last training forward when it had n outputs, else NULL. */
const int32_t *pool_argmax_of(const void *state, int64_t n);

/* Output length of a window k with stride s over n cells padded by lo and hi: floor, or with
 * ceil_mode the last partial window too as long as it starts inside the input or the low
 * padding (PyTorch's rule). Returns 0 when not even one window fits. */
int64_t pool_out_size(int64_t n, int64_t k, int64_t s, int64_t lo, int64_t hi, bool ceil_mode);

/* Max pooling; argmax (batch * c * oh * ow entries, may be NULL in inference) receives the
 * index within its [h, w] plane of the cell each output took (-1 for a window of padding
 * only, whose output is 0). */
void maxpool2d_forward(const pool2d_geom *g, int64_t batch, const float *x, float *y,
                       int32_t *argmax);
void maxpool2d_backward(const pool2d_geom *g, int64_t batch, const int32_t *argmax,
                        const float *dy, float *dx);
void avgpool2d_forward(const pool2d_geom *g, int64_t batch, const float *x, float *y);
void avgpool2d_backward(const pool2d_geom *g, int64_t batch, const float *dy, float *dx);

/* Global pooling of [batch, c, hw] (hw = h * w) into [batch, c]. argmax as above (max only). */
void global_pool_planes(pool_kind k, int64_t batch, int64_t c, int64_t hw, const float *x,
                        float *y, int32_t *argmax);
void global_pool_planes_backward(pool_kind k, int64_t batch, int64_t c, int64_t hw,
                                 const int32_t *argmax, const float *dy, float *dx);

/* Global pooling over time of time-major [t, batch, f] into [batch, f], over the steps whose
 * mask [t, batch] is non-zero (mask NULL: all). An example without a valid step gives 0. argmax
 * receives the step each output took (max only). */
void global_pool_time(pool_kind k, int64_t t, int64_t batch, int64_t f, const float *x,
                      const float *mask, float *y, int32_t *argmax);
void global_pool_time_backward(pool_kind k, int64_t t, int64_t batch, int64_t f,
                               const float *mask, const int32_t *argmax, const float *dy,
                               float *dx);

/* Shifted copies of [planes, h, w] into [planes, oh, ow]: y[p][r][c] = x[p][r - top][c - left]
 * where that lies inside x, else 0 (zero padding: top, left >= 0; cropping: <= 0); the
 * backward adds dy back at the same places. */
void planes_shift(int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t top,
                  int64_t left, const float *x, float *y);
void planes_shift_backward(int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow,
                           int64_t top, int64_t left, const float *dy, float *dx);

/* Nearest-neighbour upsampling of [planes, h, w] by (sh, sw) into [planes, h sh, w sw]; the
 * backward sums each block of dy into its source cell. */
void planes_upsample(int64_t planes, int64_t h, int64_t w, int64_t sh, int64_t sw,
                     const float *x, float *y);
void planes_upsample_backward(int64_t planes, int64_t h, int64_t w, int64_t sh, int64_t sw,
                              const float *dy, float *dx);

#endif
