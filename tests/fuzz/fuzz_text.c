/* fuzz_text.c: libFuzzer target for text sources: any bytes as a text file, with the
 * vocabulary taken from the file and given by the script. */
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_write("in.txt", data, size);
    static const char *const own_vocab[] = {"seq_length = 4", "batch = 3", NULL};
    static const char *const given_vocab[] = {"seq_length = 2", "vocab = \"abc \\n\"", "limit = 4", NULL};
    fuzz_data("text(\"in.txt\")", own_vocab);
    fuzz_data("text(\"in.txt\")", given_vocab);
    return 0;
}
