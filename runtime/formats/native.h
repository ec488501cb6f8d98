/* native.h: the native model format, surgery-model/1: NAME.yaml (the architecture, read and
 * written with libyaml) with NAME.safetensors beside it (the weights, memory-mapped). Its reader
 * (native_read.c) and writer (native_write.c) are entries of the format registry (format.h). */
#ifndef SURGERY_NATIVE_H
#define SURGERY_NATIVE_H

#include "runtime/formats/format.h"

/* Ownership: model_weights_path returns a malloc'd string; the reader and writer are static. */

#define MODEL_FORMAT "surgery-model/1"

extern const model_reader native_reader;
extern const model_writer native_writer;

/* The weights path that belongs to a YAML path: "d/x.yaml" -> "d/x.safetensors". Returns a
 * malloc'd string, or NULL when the path does not end in .yaml or .yml. */
char *model_weights_path(const char *yaml_path);

#endif
