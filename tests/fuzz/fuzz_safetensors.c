/* fuzz_safetensors.c: libFuzzer target for the safetensors reader: any bytes as a file image
 * are validated, and every tensor of a valid one is converted to float32 and looked up. */
#include <stdlib.h>
#include <string.h>

#include "runtime/formats/safetensors.h"
#include "runtime/tensor/tensor.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so reads past the end are caught */
    unsigned char *image = malloc(size ? size : 1);
    memcpy(image, data, size);
    char err[512];
    err[0] = 0;
    st_file *f = st_parse(image, size, "fuzz.safetensors", err, sizeof err);
    if (!f && !err[0])
        abort(); /* a refusal must be explained */
    for (int i = 0; f && i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        if (st_find(f, t->name) != t)
            abort();
        tensor out = {0};
        st_tensor_load(f, t, &out, i % 2 == 0, err, sizeof err);
        tensor_release(&out);
    }
    if (f)
        st_meta(f, "format");
    st_close(f);
    free(image);
    return 0;
}
