/* image_decode.h: PNG (libpng) and JPEG (libjpeg-turbo) files decoded to 8-bit grey or RGB,
 * header first, and the pixel conversions of the images source: channels, [0, 1] scaling and
 * bilinear resizing (align_corners = false, as torch's F.interpolate without antialiasing). */
#ifndef SURGERY_IMAGE_DECODE_H
#define SURGERY_IMAGE_DECODE_H

#include <stddef.h>
#include <stdint.h>

/* Ownership: an image_file owns its open file and decoder state until image_close (which
 * accepts a zeroed or already closed image_file). Pixel buffers are the caller's. */

/* The largest image accepted, checked from the header before anything is decoded. */
#define IMAGE_MAX_SIDE 16384
#define IMAGE_MAX_PIXELS ((int64_t)1 << 28)

typedef enum { IMAGE_PNG, IMAGE_JPEG } image_format;

typedef struct image_file {
    image_format format;
    int64_t width, height;
    int channels;            /* what image_decode writes: 1 (grey) or 3 (RGB); alpha is dropped */
    void *state;             /* the decoder's */
} image_file;

/* Opens path and reads its header: PNG or JPEG by content (signature), the size within the
 * limits above. Returns 0, or -1 with a reason in msg ("not a PNG or JPEG image", "truncated
 * header", libpng's or libjpeg's message) and img closed. */
int image_open(image_file *img, const char *path, char *msg, size_t msg_len);
/* Decodes the whole image into pixels (height * width * channels bytes, rows top to bottom,
 * channels interleaved). A truncated or corrupt stream is an error. Returns 0, or -1 with msg.
 * Call once per image_open. */
int image_decode(image_file *img, unsigned char *pixels, char *msg, size_t msg_len);
void image_close(image_file *img);

/* Bytes image_decode writes (height * width * channels), or -1 when that overflows. */
int64_t image_bytes(const image_file *img);

/* Converts interleaved 8-bit pixels [h, w, src_c] to planar floats [out_c, h, w] in [0, 1]
 * (v / 255): grey to RGB repeats the value; RGB to grey is PIL's convert("L"),
 * L = (19595 R + 38470 G + 7471 B + 32768) >> 16 on the bytes. */
void image_to_planar(const unsigned char *src, int64_t h, int64_t w, int src_c, int out_c, float *dst);

/* Resizes each of c planes [ih, iw] to [oh, ow], bilinear with align_corners = false: output
 * pixel (y, x) samples the input at ((y + 0.5) * ih / oh - 0.5, (x + 0.5) * iw / ow - 0.5),
 * coordinates below 0 clamped to 0 and the neighbour past the last row or column clamped to it
 * (torch's F.interpolate(mode = "bilinear", align_corners = False, antialias = False)). The
 * same size copies. Returns 0, or -1 when out of memory (for the taps, a few KiB). */
int image_resize_bilinear(const float *src, int64_t c, int64_t ih, int64_t iw, float *dst, int64_t oh,
                          int64_t ow);

#endif
