/* onnx_lstm.h: an LSTM's weights between surgery's layout (W [in, 4H], RW [H, 4H (+3
 * peepholes)], b [4H], gate blocks a, f, o, i) and ONNX's (W [1, 4H, in], R [1, 4H, H],
 * B [1, 8H] = [Wb, Rb], P [1, 3H], gates i, o, f, c; peepholes i, o, f). */
#ifndef SURGERY_ONNX_LSTM_H
#define SURGERY_ONNX_LSTM_H

#include <stdbool.h>
#include <stdint.h>

/* Ownership: onnx_lstm_weights owns its arrays (onnx_lstm_weights_free); the functions borrow
 * their inputs and fill caller-allocated outputs or the struct they are given. */

typedef struct onnx_lstm_weights {
    float *w, *r, *b, *p;   /* ONNX layouts; b is NULL without a bias, p without peepholes */
} onnx_lstm_weights;

/* Surgery's W, RW and b (NULL: no bias) to ONNX's (Rb zero). Returns 0 or -1 out of memory. */
int onnx_lstm_to_onnx(const float *W, const float *RW, const float *b, int64_t in, int64_t h,
                      bool peepholes, onnx_lstm_weights *out);
void onnx_lstm_weights_free(onnx_lstm_weights *o);
/* ONNX's w, r, b (NULL: zero) and p (NULL: none) back to surgery's W [in, 4H], RW [H, cols]
 * (cols = 4H, + 3 with peepholes) and bias [4H] = Wb + Rb. */
void onnx_lstm_from_onnx(const float *w, const float *r, const float *b, const float *p,
                         int64_t in, int64_t h, bool peepholes, float *W, float *RW, float *bias);

#endif
