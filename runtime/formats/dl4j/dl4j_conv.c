/* dl4j_conv.c: DL4J's convolutional layers (ConvolutionLayer, SeparableConvolution2D,
 * DepthwiseConvolution2D, SubsamplingLayer, BatchNormalization, ZeroPaddingLayer, Cropping2D,
 * Upsampling2D, GlobalPoolingLayer) as surgery's: their options, and where their parameters'
 * elements sit in DL4J's flat vector. */
#include "runtime/formats/dl4j/dl4j_impl.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#include "runtime/nn/layer.h"
#include "runtime/nn/layer_option.h"
#include "runtime/nn/layer_options.h"

#define MAX_SIZE (1 << 20)

typedef struct cctx {
    dl4j_map *mp;
    int index;
    const char *name, *type;
    layer *L;
    json_t *f;
} cctx;

#define CPROBLEM(c, ...) dl4j_problem((c)->mp, (c)->index, (c)->name, (c)->type, __VA_ARGS__)

static void set_values(cctx *c, const char *opt, const double *v)
{
    const layer_option *o = layer_option_find(c->L->type, opt);
    if (o)
        layer_option_set_values(o, c->L, v);
}

/* An integer list of n (or one integer standing for all n) under key into v, each within
 * [lo, MAX_SIZE]. false when absent; a bad value is reported. */
static bool int_list(cctx *c, const char *key, int n, double lo, double *v)
{
    json_t *a = json_object_get(c->f, key);
    if (!a || json_is_null(a))
        return false;
    bool ok = json_is_integer(a) || (json_is_array(a) && (int)json_array_size(a) == n);
    for (int k = 0; ok && k < n; k++) {
        json_t *x = json_is_integer(a) ? a : json_array_get(a, (size_t)k);
        ok = json_is_integer(x) && json_integer_value(x) >= lo && json_integer_value(x) <= MAX_SIZE;
        if (ok)
            v[k] = (double)json_integer_value(x);
    }
    if (!ok)
        CPROBLEM(c, "%s: expected %d whole numbers from %g to %d", key, n, lo, MAX_SIZE);
    return ok;
}

static const char *str(json_t *f, const char *key)
{
    json_t *v = json_object_get(f, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* kernelSize, stride, dilation and padding under convolutionMode (Same: surgery's same;
 * Truncate and Strict: the explicit padding). */
static void map_window(cctx *c, bool dilation)
{
    double k[2], s[2], d[2], p[2] = {0, 0};
    if (int_list(c, "kernelSize", 2, 1, k))
        set_values(c, "kernel", k);
    if (int_list(c, "stride", 2, 1, s))
        set_values(c, "stride", s);
    if (int_list(c, "dilation", 2, 1, d)) {
        if (dilation)
            set_values(c, "dilation", d);
        else if (d[0] != 1 || d[1] != 1)
            CPROBLEM(c, "dilation other than 1");
    }
    int_list(c, "padding", 2, 0, p);
    const char *mode = str(c->f, "convolutionMode");
    double pad[PADDING_VALUES] = {PAD_VALID};
    if (mode && !strcmp(mode, "Same")) {
        pad[0] = PAD_SAME;
    } else if (!mode || !strcmp(mode, "Truncate") || !strcmp(mode, "Strict")) {
        if (p[0] || p[1])
            pad[0] = PAD_EXPLICIT, pad[1] = pad[3] = p[0], pad[2] = pad[4] = p[1];
    } else {
        CPROBLEM(c, "convolutionMode %s", mode);
    }
    set_values(c, "padding", pad);
    const char *fmt = str(c->f, "cnn2dDataFormat");
    if (fmt && strcmp(fmt, "NCHW"))
        CPROBLEM(c, "cnn2dDataFormat %s (surgery's activations are NCHW)", fmt);
}

static void map_pooling(cctx *c)
{
    const char *pt = str(c->f, "poolingType");
    double v;
    if (!pt || !strcasecmp(pt, "MAX"))
        v = 0;
    else if (!strcasecmp(pt, "AVG"))
        v = 1;
    else if (!strcasecmp(pt, "SUM"))
        v = 2;
    else {
        CPROBLEM(c, "poolingType %s", pt);
        return;
    }
    set_values(c, "pooling", &v);
}

/* DL4J's [top, bottom, left, right] (or [height, width]) as surgery's explicit padding
 * [top, left, bottom, right]. */
static void map_sides(cctx *c, const char *key, const char *opt)
{
    json_t *a = json_object_get(c->f, key);
    double s[4];
    int n = json_is_array(a) && json_array_size(a) == 2 ? 2 : 4;
    if (!int_list(c, key, n, 0, s))
        return;
    if (n == 2)
        s[3] = s[2] = s[1], s[1] = s[0];
    double pad[PADDING_VALUES] = {PAD_EXPLICIT, s[0], s[2], s[1], s[3]};
    set_values(c, opt, pad);
}

static void map_batch_norm(cctx *c)
{
    double x;
    json_t *v;
    if (json_is_number(v = json_object_get(c->f, "eps")) && (x = json_number_value(v)) > 0)
        set_values(c, "eps", &x);
    if (json_is_number(v = json_object_get(c->f, "decay")) && (x = json_number_value(v)) > 0 &&
        x < 1)
        set_values(c, "decay", &x);
    if (json_is_true(json_object_get(c->f, "lockGammaBeta"))) {
        x = 1;
        set_values(c, "lock_gamma_beta", &x);
        if (json_is_number(v = json_object_get(c->f, "gamma")) && isfinite(x = json_number_value(v)))
            set_values(c, "gamma", &x);
        if (json_is_number(v = json_object_get(c->f, "beta")) && isfinite(x = json_number_value(v)))
            set_values(c, "beta", &x);
    }
}

void dl4j_map_conv(dl4j_map *mp, int index, const char *name, const char *tname, layer *L,
                   json_t *f)
{
    cctx c = {.mp = mp, .index = index, .name = name, .type = tname, .L = L, .f = f};
    const layer_type *t = L->type;
    double m;
    if (t == &layer_type_conv2d || t == &layer_type_separable_conv2d ||
        t == &layer_type_depthwise_conv2d) {
        map_window(&c, true);
        if (t != &layer_type_conv2d && int_list(&c, "depthMultiplier", 1, 1, &m))
            set_values(&c, "multiplier", &m);
    } else if (t == &layer_type_subsampling) {
        map_window(&c, false);
        map_pooling(&c);
        json_t *inc = json_object_get(f, "avgPoolIncludePadInDivisor");
        if (json_is_boolean(inc)) {
            m = json_is_true(inc);
            set_values(&c, "count_padding", &m);
        }
    } else if (t == &layer_type_global_pooling) {
        map_pooling(&c);
        if (json_is_false(json_object_get(f, "collapseDimensions")))
            CPROBLEM(&c, "collapseDimensions false");
    } else if (t == &layer_type_zero_padding) {
        map_sides(&c, "padding", "padding");
    } else if (t == &layer_type_cropping) {
        map_sides(&c, "cropping", "cropping");
    } else if (t == &layer_type_upsampling) {
        double s[2];
        if (int_list(&c, "size", 2, 1, s))
            set_values(&c, "size", s);
    } else if (t == &layer_type_batch_norm) {
        map_batch_norm(&c);
    }
}

bool dl4j_bias_first(const layer *L)
{
    const layer_type *t = L->type;
    return L->has_bias && (t == &layer_type_conv2d || t == &layer_type_separable_conv2d ||
                           t == &layer_type_depthwise_conv2d);
}

const char *dl4j_param_key(const layer *L, const char *key)
{
    if (L->type == &layer_type_batch_norm && !strcmp(key, "log10stdev"))
        return "var";
    /* The Bidirectional wrapper's "fW", "fRW", "fb", "bW", ...: GravesBidirectionalLSTM's. */
    static const char *const wrapped[6][2] = {{"fW", "WF"}, {"fRW", "RWF"}, {"fb", "bF"},
                                              {"bW", "WB"}, {"bRW", "RWB"}, {"bb", "bB"}};
    if (L->type == &layer_type_bidirectional)
        for (int k = 0; k < 6; k++)
            if (!strcmp(key, wrapped[k][0]))
                return wrapped[k][1];
    return key;
}

bool dl4j_param_own_order(const layer *L, const char *key, const tensor *t)
{
    const layer_type *ty = L->type;
    return (t->ndim == 4 && (ty == &layer_type_conv2d || !strcmp(key, "pW") ||
                             ty == &layer_type_separable_conv2d ||
                             ty == &layer_type_depthwise_conv2d)) ||
           (ty == &layer_type_batch_norm && !strcmp(key, "log10stdev"));
}

/* Depthwise kernels: separable's W is [mult, nIn, kH, kW], depthwise's [kH, kW, nIn, mult],
 * both 'c'; surgery's [nIn * mult, 1, kH, kW] with channel ic * mult + m. From DL4J's flat
 * values to surgery's (to_dl4j false) or back. */
static void permute_depthwise(const layer *L, const tensor *t, const float *src, float *dst,
                              bool to_dl4j)
{
    const int64_t kh = t->shape[2], kw = t->shape[3], n_in = L->n_in,
                  mult = n_in > 0 ? t->shape[0] / n_in : 1;
    const bool separable = L->type == &layer_type_separable_conv2d;
    for (int64_t ic = 0; ic < n_in; ic++)
        for (int64_t mm = 0; mm < mult; mm++)
            for (int64_t y = 0; y < kh; y++)
                for (int64_t x = 0; x < kw; x++) {
                    int64_t d = separable ? ((mm * n_in + ic) * kh + y) * kw + x
                                          : ((y * kw + x) * n_in + ic) * mult + mm;
                    int64_t o = ((ic * mult + mm) * kh + y) * kw + x;
                    if (to_dl4j)
                        dst[d] = src[o];
                    else
                        dst[o] = src[d];
                }
}

bool dl4j_fill_param(const layer *L, const char *key, tensor *t, const float *flat)
{
    const layer_type *ty = L->type;
    if (t->ndim == 4 && (ty == &layer_type_conv2d || !strcmp(key, "pW"))) {
        /* [nOut, nIn, kH, kW] views in 'c' order: surgery's row-major layout. */
        memcpy(t->data, flat, (size_t)t->size * sizeof *flat);
        return true;
    }
    if (t->ndim == 4 && (ty == &layer_type_separable_conv2d || ty == &layer_type_depthwise_conv2d)) {
        permute_depthwise(L, t, flat, t->data, false);
        return true;
    }
    if (ty == &layer_type_batch_norm && !strcmp(key, "log10stdev")) {
        /* useLogStd: log10 of sqrt(var + eps). */
        double eps;
        layer_option_get_values(layer_option_find(ty, "eps"), L, &eps);
        for (int64_t k = 0; k < t->size; k++) {
            double v = pow(10.0, 2.0 * flat[k]) - eps;
            t->data[k] = (float)(v > 0 ? v : 0);
        }
        return true;
    }
    return false;
}

bool dl4j_flatten_param(const layer *L, const char *key, const tensor *t, const float *data,
                        float *flat)
{
    const layer_type *ty = L->type;
    if (t->ndim == 4 && (ty == &layer_type_conv2d || !strcmp(key, "pW"))) {
        memcpy(flat, data, (size_t)t->size * sizeof *flat);
        return true;
    }
    if (t->ndim == 4 && (ty == &layer_type_separable_conv2d || ty == &layer_type_depthwise_conv2d)) {
        permute_depthwise(L, t, data, flat, true);
        return true;
    }
    return false;
}
