/* fuzz_model_file.c: libFuzzer target for the model formats recognised by content (ONNX
 * protobuf, DL4J ModelSerializer zip, and whatever else the registry reads): the input is one
 * file, read through the format registry, architecture alone and with its weights. */
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("model.bin", data, size);
    fuzz_model(path, false);
    fuzz_model(fuzz_path("model.bin"), true);
    return 0;
}
