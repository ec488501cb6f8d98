/* fuzz_idx.c: libFuzzer target for IDX (MNIST) files: the input is the images file and, after
 * the bytes "--IDX--", the labels file. */
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t images_len, labels_len;
    const uint8_t *labels;
    fuzz_split(data, size, "--IDX--", &images_len, &labels, &labels_len);
    fuzz_write("images.idx3", data, images_len);
    fuzz_write("labels.idx1", labels, labels_len);
    static const char *const defaults[] = {"batch = 4", NULL};
    static const char *const options[] = {"classes = 3", "normalize = minmax", "limit = 3", NULL};
    fuzz_data("idx(\"images.idx3\", labels = \"labels.idx1\")", defaults);
    fuzz_data("idx(\"images.idx3\", labels = \"labels.idx1\")", options);
    return 0;
}
