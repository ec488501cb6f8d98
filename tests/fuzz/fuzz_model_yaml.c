/* fuzz_model_yaml.c: libFuzzer target for model files through the format registry: the input
 * is the YAML and, after a line "--WEIGHTS--", the weights file m.safetensors beside it; the
 * architecture is read alone, then with its weights. */
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t yaml_len, weights_len;
    const uint8_t *weights;
    fuzz_split(data, size, "\n--WEIGHTS--\n", &yaml_len, &weights, &weights_len);
    fuzz_write("m.safetensors", weights, weights_len);
    const char *path = fuzz_write("m.yaml", data, yaml_len);
    fuzz_model(path, false);
    fuzz_model(fuzz_path("m.yaml"), true);
    return 0;
}
