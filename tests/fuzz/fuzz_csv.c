/* fuzz_csv.c: libFuzzer target for CSV: any bytes as a csv data source (classification with a
 * header line, regression with a tab delimiter) and as predict's numeric CSV input. */
#include <stdlib.h>

#include "runtime/base/diag.h"
#include "runtime/tensor/tensor.h"
#include "runtime/tensor/tensor_csv.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("in.csv", data, size);
    static const char *const classes[] = {"label = 0", "classes = 3", "header = 1", "batch = 2", NULL};
    static const char *const regression[] = {"label_count = 2", "delimiter = \"\\t\"",
                                             "normalize = standardize", NULL};
    fuzz_data("csv(\"in.csv\")", classes);
    fuzz_data("csv(\"in.csv\")", regression);
    diag_ctx *d = diag_new(fuzz_sink(), DIAG_COLOR_NEVER);
    tensor t = {0};
    if (tensor_csv_read(path, 0, ',', &t, d) != 0 && diag_error_count(d) == 0)
        abort();
    tensor_release(&t);
    diag_free(d);
    return 0;
}
