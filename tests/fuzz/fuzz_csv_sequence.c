/* fuzz_csv_sequence.c: libFuzzer target for csv_sequence: the input is the features file of
 * sequence 0 and, after a line "--", the labels file; sequence 1 is the features file again
 * with labels in a column. */
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t features_len, labels_len;
    const uint8_t *labels;
    fuzz_split(data, size, "\n--\n", &features_len, &labels, &labels_len);
    fuzz_alias("f1.csv", "f0.csv");   /* sequence 1 is the same bytes as sequence 0 */
    fuzz_alias("l1.csv", "l0.csv");
    fuzz_write("f0.csv", data, features_len);
    fuzz_write("l0.csv", labels, labels_len);
    static const char *const with_labels[] = {"classes = 3", "align = end", "batch = 2", NULL};
    static const char *const in_column[] = {"label = 0", "per_sequence = true", NULL};
    static const char *const regression[] = {"align = start", "normalize = minmax", NULL};
    fuzz_data("csv_sequence(\"f%d.csv\", labels = \"l%d.csv\", first = 0, last = 1)", with_labels);
    fuzz_data("csv_sequence(\"f%d.csv\", first = 0, last = 1)", in_column);
    fuzz_data("csv_sequence(\"f%d.csv\", labels = \"l%d.csv\", first = 0, last = 1)", regression);
    return 0;
}
