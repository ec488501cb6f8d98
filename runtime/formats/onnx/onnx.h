/* onnx.h: the ONNX format (a protobuf ModelProto in one .onnx file, weights as initializers,
 * optionally in external data files beside it): its reader and writer for the format registry,
 * and the tensor decoding both share. docs/format.md ("ONNX") lists the operators mapped. */
#ifndef SURGERY_ONNX_H
#define SURGERY_ONNX_H

#include <stdbool.h>
#include <stdint.h>
#include "runtime/formats/format.h"

/* Ownership: the reader and writer are static. onnx_tensor_values fills caller-owned arrays
 * it allocates (*f or *i, free with free()); it borrows the tensor proto and the paths. */

extern const model_reader onnx_reader;
extern const model_writer onnx_writer;

/* The opset the writer targets by default and the lowest it writes, and the range of opsets
 * and IR versions the reader takes. */
#define ONNX_WRITE_OPSET 17
#define ONNX_WRITE_MIN_OPSET 13
#define ONNX_MIN_OPSET 6
#define ONNX_MAX_OPSET 18
#define ONNX_MIN_IR 3
#define ONNX_MAX_IR 9

struct Onnx__TensorProto;
struct Onnx__ModelProto;
struct model_builder;

/* Called for each layer written: its name, its type and the ONNX operators it became
 * ("Gemm, Relu"). */
typedef void (*onnx_layer_report)(void *ctx, const char *name, const char *type, const char *ops);

typedef struct onnx_write_opts {
    int opset;                  /* 0: ONNX_WRITE_OPSET; else ONNX_WRITE_MIN_OPSET..ONNX_MAX_OPSET */
    bool external_data;         /* the weights in NAME.onnx.data beside the file (forced when
                                 * they pass ONNX_EXTERNAL_THRESHOLD bytes) */
    onnx_layer_report report;   /* NULL: none */
    void *report_ctx;
} onnx_write_opts;

/* Initializer bytes above which the weights go to external data (protobuf's 2 GiB limit, with
 * room for the graph). */
#define ONNX_EXTERNAL_THRESHOLD (((int64_t)1 << 31) - ((int64_t)64 << 20))

/* Writes m to path as onnx_writer does, with the options o (NULL: the defaults). Returns 0, or
 * -1 with the reason reported through d naming the file. */
int onnx_write_model(const model *m, const char *path, save_mode mode, const onnx_write_opts *o,
                     struct diag_ctx *d);

/* The model a surgery-written ONNX file describes in its metadata (docs/format.md, "ONNX
 * writing"), built into b: returns 1 when it was, 0 when the file carries no such description
 * or its graph no longer matches it (then the operators are mapped instead), -1 on a reported
 * error. */
int onnx_restore(const struct Onnx__ModelProto *mp, const char *path, struct model_builder *b,
                 struct diag_ctx *d);
/* After onnx_restore and the options: the restored layers' parameters from the initializers
 * LAYER.KEY (an LSTM's from LAYER.onnx_W, _R, _B, _P). Returns 0, or -1 on a reported error. */
int onnx_restore_params(const struct Onnx__ModelProto *mp, const char *path,
                        struct model_builder *b, struct diag_ctx *d);
/* The digest of a graph's structure (nodes, their attributes, initializer names and shapes)
 * that the writer stores and the reader compares, as 16 hex digits into hex[17]. */
void onnx_graph_digest(const struct Onnx__ModelProto *mp, char hex[17]);

/* The values of a float or integer tensor (raw_data, typed fields or external data read
 * beside model_path), checked against its shape: floats (FLOAT, DOUBLE) into *f, integers
 * (INT64, INT32, ...) into *i (the other left NULL), *count elements. On a problem writes a
 * reason into err and returns -1. */
int onnx_tensor_values(const struct Onnx__TensorProto *t, const char *model_path, float **f,
                       int64_t **i, int64_t *count, char *err, size_t err_len);

#endif
