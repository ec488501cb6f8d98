/* fuzz_images.c: libFuzzer target for the images data source: the input is two image files
 * (PNG, JPEG or anything else), split at the bytes "--IMG--", one in each of two class folders,
 * decoded, resized and batched as grey and as colour images. */
#include <stdbool.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t first_len, second_len;
    const uint8_t *second;
    fuzz_split(data, size, "--IMG--", &first_len, &second, &second_len);
    static bool made;
    if (!made) {
        mkdir(fuzz_path("imgs"), 0700);
        mkdir(fuzz_path("imgs/a"), 0700);
        mkdir(fuzz_path("imgs/b"), 0700);
        made = true;
    }
    fuzz_write("imgs/a/0.img", data, first_len);
    fuzz_write("imgs/b/0.img", second, second_len);
    static const char *const grey[] = {"height = 7", "width = 5", "channels = 1", "batch = 2", NULL};
    static const char *const colour[] = {"height = 3", "width = 9", "channels = 3", "skip_bad = true",
                                         NULL};
    fuzz_data("images(\"imgs/\")", grey);
    fuzz_data("images(\"imgs/\")", colour);
    return 0;
}
