/* fuzz_model_yaml.c: libFuzzer target for model files through the format registry: the input
 * is the YAML and, after a line "--WEIGHTS--", the weights file m.safetensors beside it; the
 * architecture is read alone, then with its weights. */
#include <stdlib.h>

#include "runtime/base/diag.h"
#include "runtime/formats/format.h"
#include "runtime/graph/model.h"
#include "tests/fuzz/fuzz_common.h"

static void load(const char *path, bool weights)
{
    diag_ctx *d = diag_new(fuzz_sink(), DIAG_COLOR_NEVER);
    model *m = model_load(path, weights, d);
    if (!m && diag_error_count(d) == 0)
        abort(); /* a refusal must be explained */
    model_free(m);
    diag_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t yaml_len, weights_len;
    const uint8_t *weights;
    fuzz_split(data, size, "\n--WEIGHTS--\n", &yaml_len, &weights, &weights_len);
    fuzz_write("m.safetensors", weights, weights_len);
    const char *path = fuzz_write("m.yaml", data, yaml_len);
    load(path, false);
    load(fuzz_path("m.yaml"), true);
    return 0;
}
