/* fuzz_npy.c: libFuzzer target for .npy: the input is the features array and, after the bytes
 * "--NPY--", the labels array, read as an npy data source and with the whole-array readers. */
#include <stdlib.h>

#include "runtime/tensor/npy.h"
#include "runtime/tensor/tensor.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t x_len, y_len;
    const uint8_t *y;
    fuzz_split(data, size, "--NPY--", &x_len, &y, &y_len);
    const char *x_path = fuzz_write("x.npy", data, x_len);
    fuzz_write("y.npy", y, y_len);
    static const char *const classes[] = {"classes = 4", "batch = 3", NULL};
    static const char *const regression[] = {"normalize = standardize", "limit = 5", NULL};
    fuzz_data("npy(\"x.npy\", labels = \"y.npy\")", classes);
    fuzz_data("npy(\"x.npy\", labels = \"y.npy\")", regression);
    char err[512];
    tensor t = {0};
    npy_read_float(x_path, &t, err, sizeof err);
    tensor_release(&t);
    int64_t *labels = NULL, count = 0, shape[NPY_MAX_DIMS];
    int ndim = 0;
    if (npy_read_labels(fuzz_path("y.npy"), &labels, &count, &ndim, shape, err, sizeof err) == 0)
        free(labels);
    return 0;
}
