/* fuzz_ir_yaml.c: libFuzzer target for the IR's YAML form (`surgery compile` output): any
 * bytes are read back as a script without a crash, leak or unexplained failure. */
#include <stdlib.h>

#include "runtime/base/diag.h"
#include "runtime/script/ir.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("in.ir.yaml", data, size);
    diag_ctx *d = diag_new(fuzz_sink(), DIAG_COLOR_NEVER);
    ir_script *s = ir_load_yaml(path, d);
    if (!s && diag_error_count(d) == 0)
        abort();
    ir_script_free(s);
    diag_free(d);
    return 0;
}
