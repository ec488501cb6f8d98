/* dl4j_write_conv.c: the fields of DL4J 1.0's convolutional layer classes (ConvolutionLayer,
 * SeparableConvolution2D, DepthwiseConvolution2D, SubsamplingLayer, ZeroPaddingLayer,
 * Cropping2D, Upsampling2D) from a surgery layer's options, as DL4J 1.0.0-beta4 writes them: the
 * inverse of dl4j_conv.c's reading. */
#include "runtime/formats/dl4j/dl4j_write_impl.h"

#include <jansson.h>
#include <stdio.h>

#include "runtime/nn/kernels/pool.h"
#include "runtime/nn/layer_option.h"
#include "runtime/nn/layer_options.h"

static void put(json_t *o, const char *key, json_t *v) { json_object_set_new(o, key, v); }

/* The values of option `name` of L into v (n of them; left as they are when L's type has none). */
static void values(const layer *L, const char *name, double *v)
{
    const layer_option *o = layer_option_find(L->type, name);
    if (o)
        layer_option_get_values(o, L, v);
}

static json_t *pair(double a, double b)
{
    json_t *p = json_array();
    json_array_append_new(p, json_integer((json_int_t)a));
    json_array_append_new(p, json_integer((json_int_t)b));
    return p;
}

static json_t *four(double a, double b, double c, double d)
{
    json_t *p = pair(a, b);
    json_array_append_new(p, json_integer((json_int_t)c));
    json_array_append_new(p, json_integer((json_int_t)d));
    return p;
}

static bool is_window(const layer_type *t)
{
    return t == &layer_type_conv2d || t == &layer_type_separable_conv2d ||
           t == &layer_type_depthwise_conv2d || t == &layer_type_subsampling;
}

const char *dl4j_conv_refusal(const layer *L, char *buf, size_t n)
{
    if (!is_window(L->type))
        return NULL;
    double p[PADDING_VALUES] = {PAD_VALID, 0, 0, 0, 0};
    values(L, "padding", p);
    /* DL4J's Truncate mode pads [height, width] on both sides alike */
    if (p[0] == PAD_EXPLICIT && (p[1] != p[3] || p[2] != p[4])) {
        snprintf(buf, n, "padding [%g, %g, %g, %g] (top, left, bottom, right): DL4J pads both "
                 "sides alike", p[1], p[2], p[3], p[4]);
        return buf;
    }
    if (L->type == &layer_type_subsampling) {
        double ceil_mode = 0, count = 1, pool = POOL_MAX;
        values(L, "ceil_mode", &ceil_mode);
        values(L, "count_padding", &count);
        values(L, "pooling", &pool);
        if (ceil_mode != 0) {
            snprintf(buf, n, "ceil_mode (DL4J's SubsamplingLayer has no partial windows)");
            return buf;
        }
        if (count == 0 && pool == POOL_AVG && p[0] != PAD_VALID) {
            snprintf(buf, n, "count_padding false (DL4J 1.0.0-beta4 counts the padding)");
            return buf;
        }
    }
    return NULL;
}

/* kernelSize, stride, dilation, padding and convolutionMode. */
static void window_fields(json_t *o, const layer *L, bool dilation)
{
    double k[2] = {1, 1}, s[2] = {1, 1}, d[2] = {1, 1};
    double p[PADDING_VALUES] = {PAD_VALID, 0, 0, 0, 0};
    values(L, "kernel", k);
    values(L, "stride", s);
    if (dilation)
        values(L, "dilation", d);
    values(L, "padding", p);
    put(o, "kernelSize", pair(k[0], k[1]));
    put(o, "stride", pair(s[0], s[1]));
    put(o, "dilation", pair(d[0], d[1]));
    bool same = p[0] == PAD_SAME, explicit_pad = p[0] == PAD_EXPLICIT;
    put(o, "convolutionMode", json_string(same ? "Same" : "Truncate"));
    put(o, "padding", explicit_pad ? pair(p[1], p[2]) : pair(0, 0));
    put(o, "cudnnAllowFallback", json_true());
}

void dl4j_conv_fields(json_t *o, const layer *L)
{
    const layer_type *t = L->type;
    if (t == &layer_type_conv2d || t == &layer_type_separable_conv2d ||
        t == &layer_type_depthwise_conv2d) {
        window_fields(o, L, true);
        put(o, "cudnnAlgoMode", json_string("PREFER_FASTEST"));
        put(o, "cudnnBwdDataAlgo", json_null());
        put(o, "cudnnBwdFilterAlgo", json_null());
        put(o, "cudnnFwdAlgo", json_null());
        put(o, "hasBias", json_boolean(L->has_bias));
        if (t != &layer_type_conv2d) {
            double m = 1;
            values(L, "multiplier", &m);
            put(o, "depthMultiplier", json_integer((json_int_t)m));
        }
        return;
    }
    if (t == &layer_type_subsampling) {
        window_fields(o, L, false);
        double v = POOL_MAX;
        values(L, "pooling", &v);
        static const char *const pools[POOL_KIND_COUNT] = {"MAX", "AVG", "SUM"};
        put(o, "poolingType", json_string(pools[(int)v]));
        put(o, "eps", json_real(1e-8));
        put(o, "pnorm", json_integer(0));
    } else if (t == &layer_type_zero_padding || t == &layer_type_cropping) {
        double p[PADDING_VALUES] = {PAD_EXPLICIT, 0, 0, 0, 0};
        values(L, t == &layer_type_cropping ? "cropping" : "padding", p);
        /* DL4J's [top, bottom, left, right] */
        put(o, t == &layer_type_cropping ? "cropping" : "padding", four(p[1], p[3], p[2], p[4]));
    } else if (t == &layer_type_upsampling) {
        double s[2] = {1, 1};
        values(L, "size", s);
        put(o, "size", pair(s[0], s[1]));
    } else {
        return;
    }
    put(o, "gradientNormalization", json_string("None"));
    put(o, "gradientNormalizationThreshold", json_real(0.0));
}
