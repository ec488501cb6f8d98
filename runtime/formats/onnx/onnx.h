/* onnx.h: the ONNX format (a protobuf ModelProto in one .onnx file, weights as initializers,
 * optionally in external data files beside it): its reader and writer for the format registry,
 * and the tensor decoding both share. docs/format.md ("ONNX") lists the operators mapped. */
#ifndef SURGERY_ONNX_H
#define SURGERY_ONNX_H

#include <stdint.h>
#include "runtime/formats/format.h"

/* Ownership: the reader and writer are static. onnx_tensor_values fills caller-owned arrays
 * it allocates (*f or *i, free with free()); it borrows the tensor proto and the paths. */

extern const model_reader onnx_reader;
extern const model_writer onnx_writer;

/* The opset the writer targets, and the range of opsets and IR versions the reader takes. */
#define ONNX_WRITE_OPSET 17
#define ONNX_MIN_OPSET 6
#define ONNX_MAX_OPSET 18
#define ONNX_MIN_IR 3
#define ONNX_MAX_IR 9

struct Onnx__TensorProto;

/* The values of a float or integer tensor (raw_data, typed fields or external data read
 * beside model_path), checked against its shape: floats (FLOAT, DOUBLE) into *f, integers
 * (INT64, INT32, ...) into *i (the other left NULL), *count elements. On a problem writes a
 * reason into err and returns -1. */
int onnx_tensor_values(const struct Onnx__TensorProto *t, const char *model_path, float **f,
                       int64_t **i, int64_t *count, char *err, size_t err_len);

#endif
