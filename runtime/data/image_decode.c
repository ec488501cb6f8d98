/* image_decode.c: PNG and JPEG decoding through libpng and libjpeg-turbo (header first, errors
 * caught with setjmp), channel conversion and bilinear resizing for the images source. */
#include "runtime/data/image_decode.h"

#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "runtime/base/checked.h"

/* A zeroed decoder state of size bytes, or NULL (f closed, msg set) when out of memory. */
static void *state_new(size_t size, FILE *f, char *msg, size_t msg_len)
{
    void *s = calloc(1, size);
    if (!s) {
        fclose(f);
        snprintf(msg, msg_len, "out of memory");
    }
    return s;
}

/* ---- PNG ---- */

typedef struct png_state {
    FILE *f;
    png_structp png;
    png_infop info;
    jmp_buf jb;
    char msg[200];
} png_state;

static void png_fail(png_structp p, png_const_charp m)
{
    png_state *s = png_get_error_ptr(p);
    snprintf(s->msg, sizeof s->msg, "%s", m);
    longjmp(s->jb, 1);
}

static void png_quiet(png_structp p, png_const_charp m)
{
    (void)p;
    (void)m;
}

static void png_state_free(png_state *s)
{
    if (!s)
        return;
    if (s->png)
        png_destroy_read_struct(&s->png, s->info ? &s->info : NULL, NULL);
    if (s->f)
        fclose(s->f);
    free(s);
}

static int png_open(image_file *img, FILE *f, char *msg, size_t msg_len)
{
    png_state *s = state_new(sizeof *s, f, msg, msg_len);
    if (!s)
        return -1;
    s->f = f;
    s->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, png_fail, png_quiet);
    s->info = s->png ? png_create_info_struct(s->png) : NULL;
    if (!s->info) {
        png_state_free(s);
        snprintf(msg, msg_len, "out of memory");
        return -1;
    }
    if (setjmp(s->jb)) {
        snprintf(msg, msg_len, "corrupt PNG: %s", s->msg);
        png_state_free(s);
        return -1;
    }
    png_init_io(s->png, f);
    png_set_sig_bytes(s->png, 8);
    png_read_info(s->png, s->info);
    png_uint_32 w, h;
    int depth, color, interlace;
    png_get_IHDR(s->png, s->info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(s->png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(s->png);
    if (png_get_valid(s->png, s->info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(s->png);
    if (depth == 16)
        png_set_strip_16(s->png);
    png_set_strip_alpha(s->png);
    png_set_interlace_handling(s->png);
    png_read_update_info(s->png, s->info);
    img->width = w;
    img->height = h;
    img->channels = png_get_channels(s->png, s->info);
    img->state = s;
    return 0;
}

static int png_decode(image_file *img, unsigned char *pixels, char *msg, size_t msg_len)
{
    png_state *s = img->state;
    png_bytep *volatile rows = malloc((size_t)img->height * sizeof *rows);
    if (!rows) {
        snprintf(msg, msg_len, "out of memory");
        return -1;
    }
    size_t stride = (size_t)img->width * (size_t)img->channels;
    for (int64_t y = 0; y < img->height; y++)
        rows[y] = pixels + (size_t)y * stride;
    if (setjmp(s->jb)) {
        free(rows);
        snprintf(msg, msg_len, "corrupt PNG: %s", s->msg);
        return -1;
    }
    png_read_image(s->png, rows);
    png_read_end(s->png, NULL);
    free(rows);
    return 0;
}

/* ---- JPEG ---- */

typedef struct jpeg_state {
    struct jpeg_error_mgr err;   /* first: libjpeg's callbacks get it as the error manager */
    struct jpeg_decompress_struct cinfo;
    FILE *f;
    jmp_buf jb;
    bool truncated;
    char msg[JMSG_LENGTH_MAX];
} jpeg_state;

static void jpeg_fail(j_common_ptr c)
{
    jpeg_state *s = (jpeg_state *)c->err;
    c->err->format_message(c, s->msg);
    longjmp(s->jb, 1);
}

/* Warnings are tolerated (as image viewers do) except a stream that ends early, which stops
 * the decoder at once: libjpeg would go on feeding itself two-byte fake markers, one warning
 * (and one read at end of file) each, so a marker claiming 64 KiB past the end of a 100-byte
 * file took seconds. */
static void jpeg_message(j_common_ptr c, int level)
{
    jpeg_state *s = (jpeg_state *)c->err;
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) {
        s->truncated = true;
        longjmp(s->jb, 1);
    }
}

static void jpeg_state_free(jpeg_state *s)
{
    if (!s)
        return;
    jpeg_destroy_decompress(&s->cinfo);
    if (s->f)
        fclose(s->f);
    free(s);
}

static int jpeg_open(image_file *img, FILE *f, char *msg, size_t msg_len)
{
    jpeg_state *s = state_new(sizeof *s, f, msg, msg_len);
    if (!s)
        return -1;
    s->f = f;
    s->cinfo.err = jpeg_std_error(&s->err);
    s->err.error_exit = jpeg_fail;
    s->err.emit_message = jpeg_message;
    if (setjmp(s->jb)) {
        if (s->truncated)
            snprintf(msg, msg_len, "truncated JPEG: the file ends inside its header");
        else
            snprintf(msg, msg_len, "corrupt JPEG: %s", s->msg);
        jpeg_state_free(s);
        return -1;
    }
    jpeg_create_decompress(&s->cinfo);
    rewind(f);
    jpeg_stdio_src(&s->cinfo, f);
    jpeg_read_header(&s->cinfo, TRUE);
    J_COLOR_SPACE cs = s->cinfo.jpeg_color_space;
    if (cs == JCS_CMYK || cs == JCS_YCCK) {
        snprintf(msg, msg_len, "CMYK JPEG images are not supported; convert it to RGB");
        jpeg_state_free(s);
        return -1;
    }
    s->cinfo.out_color_space = cs == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
    img->width = s->cinfo.image_width;
    img->height = s->cinfo.image_height;
    img->channels = cs == JCS_GRAYSCALE ? 1 : 3;
    img->state = s;
    return 0;
}

static int jpeg_decode(image_file *img, unsigned char *pixels, char *msg, size_t msg_len)
{
    jpeg_state *s = img->state;
    if (setjmp(s->jb)) {
        if (s->truncated)
            snprintf(msg, msg_len, "truncated JPEG: the file ends before the image data does");
        else
            snprintf(msg, msg_len, "corrupt JPEG: %s", s->msg);
        return -1;
    }
    jpeg_start_decompress(&s->cinfo);
    if ((int64_t)s->cinfo.output_width != img->width || (int64_t)s->cinfo.output_height != img->height ||
        s->cinfo.output_components != img->channels) {
        snprintf(msg, msg_len, "corrupt JPEG: the decoder's output differs from the header");
        return -1;
    }
    size_t stride = (size_t)img->width * (size_t)img->channels;
    while (s->cinfo.output_scanline < s->cinfo.output_height) {
        JSAMPROW row = pixels + (size_t)s->cinfo.output_scanline * stride;
        jpeg_read_scanlines(&s->cinfo, &row, 1);
    }
    jpeg_finish_decompress(&s->cinfo);
    return 0;
}

/* ---- the interface ---- */

int image_open(image_file *img, const char *path, char *msg, size_t msg_len)
{
    memset(img, 0, sizeof *img);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, msg_len, "cannot open: %s", strerror(errno));
        return -1;
    }
    unsigned char sig[8];
    size_t got = fread(sig, 1, sizeof sig, f);
    int rc;
    if (got == 8 && png_sig_cmp(sig, 0, 8) == 0) {
        img->format = IMAGE_PNG;
        rc = png_open(img, f, msg, msg_len);
    } else if (got >= 3 && sig[0] == 0xff && sig[1] == 0xd8 && sig[2] == 0xff) {
        img->format = IMAGE_JPEG;
        rc = jpeg_open(img, f, msg, msg_len);
    } else {
        fclose(f);
        snprintf(msg, msg_len, got == 0 ? "empty file, not a PNG or JPEG image"
                                        : "not a PNG or JPEG image (unknown signature)");
        return -1;
    }
    if (rc != 0) {
        memset(img, 0, sizeof *img);
        return -1;
    }
    int64_t pixels;
    if (img->width < 1 || img->height < 1 || img->width > IMAGE_MAX_SIDE || img->height > IMAGE_MAX_SIDE ||
        !checked_mul(img->width, img->height, &pixels) || pixels > IMAGE_MAX_PIXELS) {
        snprintf(msg, msg_len, "the header says %lldx%lld pixels; at most %dx%d and %lld pixels are accepted",
                 (long long)img->width, (long long)img->height, IMAGE_MAX_SIDE, IMAGE_MAX_SIDE,
                 (long long)IMAGE_MAX_PIXELS);
        image_close(img);
        return -1;
    }
    return 0;
}

int64_t image_bytes(const image_file *img)
{
    int64_t n;
    return checked_mul3(img->width, img->height, img->channels, &n) ? n : -1;
}

int image_decode(image_file *img, unsigned char *pixels, char *msg, size_t msg_len)
{
    if (!img->state) {
        snprintf(msg, msg_len, "the image is not open");
        return -1;
    }
    return img->format == IMAGE_PNG ? png_decode(img, pixels, msg, msg_len) : jpeg_decode(img, pixels, msg, msg_len);
}

void image_close(image_file *img)
{
    if (!img || !img->state)
        return;
    if (img->format == IMAGE_PNG)
        png_state_free(img->state);
    else
        jpeg_state_free(img->state);
    img->state = NULL;
}

/* ---- pixels ---- */

void image_to_planar(const unsigned char *src, int64_t h, int64_t w, int src_c, int out_c, float *dst)
{
    float scaled[256];   /* v / 255, rounded once */
    for (int v = 0; v < 256; v++)
        scaled[v] = (float)v / 255.0f;
    int64_t plane = h * w;
    for (int64_t i = 0; i < plane; i++) {
        const unsigned char *p = src + i * src_c;
        if (src_c == out_c) {
            for (int c = 0; c < out_c; c++)
                dst[c * plane + i] = scaled[p[c]];
        } else if (src_c == 1) {
            for (int c = 0; c < out_c; c++)
                dst[c * plane + i] = scaled[p[0]];
        } else {
            uint32_t l = (19595u * p[0] + 38470u * p[1] + 7471u * p[2] + 32768u) >> 16;
            dst[i] = scaled[l];
        }
    }
}

/* The two source indices and the weight of the second for each output coordinate. */
static void linear_taps(int64_t in, int64_t out, int64_t *i0, int64_t *i1, float *lambda)
{
    float scale = (float)in / (float)out;
    for (int64_t o = 0; o < out; o++) {
        float real = scale * ((float)o + 0.5f) - 0.5f;
        if (real < 0.0f)
            real = 0.0f;
        int64_t a = (int64_t)real;
        if (a > in - 1)
            a = in - 1;
        i0[o] = a;
        i1[o] = a < in - 1 ? a + 1 : a;
        lambda[o] = real - (float)a;
    }
}

int image_resize_bilinear(const float *src, int64_t c, int64_t ih, int64_t iw, float *dst, int64_t oh,
                          int64_t ow)
{
    if (ih == oh && iw == ow) {
        memcpy(dst, src, (size_t)(c * ih * iw) * sizeof *dst);
        return 0;
    }
    int64_t *y0 = malloc((size_t)(2 * oh + 2 * ow) * sizeof *y0);
    float *ly = malloc((size_t)(oh + ow) * sizeof *ly);
    if (!y0 || !ly) {
        free(y0);
        free(ly);
        return -1;
    }
    int64_t *y1 = y0 + oh, *x0 = y1 + oh, *x1 = x0 + ow;
    float *lx = ly + oh;
    linear_taps(ih, oh, y0, y1, ly);
    linear_taps(iw, ow, x0, x1, lx);
    for (int64_t k = 0; k < c; k++) {
        const float *plane = src + k * ih * iw;
        float *out = dst + k * oh * ow;
        for (int64_t y = 0; y < oh; y++) {
            const float *r0 = plane + y0[y] * iw, *r1 = plane + y1[y] * iw;
            float wy = ly[y];
            for (int64_t x = 0; x < ow; x++) {
                float wx = lx[x];
                float top = (1.0f - wx) * r0[x0[x]] + wx * r0[x1[x]];
                float bottom = (1.0f - wx) * r1[x0[x]] + wx * r1[x1[x]];
                out[y * ow + x] = (1.0f - wy) * top + wy * bottom;
            }
        }
    }
    free(y0);
    free(ly);
    return 0;
}
