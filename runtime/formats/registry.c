/* registry.c: the formats surgery reads and writes: one line per format in each table (a new
 * format is one reader and one writer in files of their own, and a line here). */
#include "runtime/formats/format.h"
#include "runtime/formats/dl4j/dl4j.h"
#include "runtime/formats/native.h"
#include "runtime/formats/onnx/onnx.h"

const model_reader *const model_readers[] = {&native_reader, &onnx_reader, &dl4j_reader, NULL};
const model_writer *const model_writers[] = {&native_writer, &onnx_writer, &dl4j_writer, NULL};
