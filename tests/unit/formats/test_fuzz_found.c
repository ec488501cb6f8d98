/* test_fuzz_found.c: model files the fuzz target for the format registry found mishandled (a
 * crash, a leak, a read past a buffer), kept in tests/data/fuzz_found/: each is refused with
 * a clear error naming the file, and nothing leaks (checked under the sanitizer build). */
#include <criterion/criterion.h>
#include <string.h>

#include "runtime/formats/format.h"
#include "runtime/graph/model.h"
#include "tests/unit/test_support.h"

#define FOUND "tests/data/fuzz_found/"

static void expect_refused(const char *name, const char *message)
{
    char path[256];
    snprintf(path, sizeof path, FOUND "%s", name);
    diag_capture c;
    capture_open(&c);
    model *m = model_load(path, true, c.d);
    cr_assert_null(m, "%s was loaded", path);
    const char *text = capture_text(&c);
    cr_assert(strstr(text, path) && strstr(text, message), "%s: %s", path, text);
    capture_close(&c);
}

Test(fuzz_found, onnx_node_without_an_operator_type)
{
    expect_refused("onnx_node_without_op_type.bin", "error: node 0 has no operator type");
}

Test(fuzz_found, onnx_initializer_defined_twice)
{
    expect_refused("onnx_initializer_twice.bin", "is defined twice");
}

/* The quoted source line is all UTF-8 continuation bytes: the window around the caret must
 * stay inside the line. */
Test(fuzz_found, yaml_line_of_continuation_bytes)
{
    expect_refused("yaml_line_of_continuation_bytes.bin", "error: YAML syntax error");
}

/* An Nd4j array whose order (a LONG of the shape information) does not fit an int: compared
 * as read, not converted first. */
Test(fuzz_found, dl4j_array_order_out_of_int_range)
{
    expect_refused("dl4j_order_out_of_int_range.bin", "entry coefficients.bin: order ");
}

/* Surgery's own export whose layer list in the metadata names a recurrent layer the graph's
 * initializers do not have: refused naming the missing initializer. */
Test(fuzz_found, onnx_restored_lstm_without_initializers)
{
    expect_refused("onnx_restored_lstm_missing.bin",
                   "error: layer 'l2' (lstm): its initializer 'l2.onnx_W' is missing");
}

/* A node attribute without a name (protobuf leaves it NULL): looked up without reading it. */
Test(fuzz_found, onnx_attribute_without_a_name)
{
    expect_refused("onnx_attribute_without_name.bin", "cannot be mapped to surgery layers");
}

/* An initializer whose shape claims 16 GiB over 288 bytes of raw_data: refused before the
 * shape's size is allocated. */
Test(fuzz_found, onnx_raw_data_shorter_than_its_shape)
{
    expect_refused("onnx_raw_data_shorter_than_shape.bin",
                   "raw_data holds 288 bytes but the shape needs 17179869152");
}

/* Two Constant nodes producing one value: refused (the first one's data leaked when the second
 * overwrote it). */
Test(fuzz_found, onnx_output_produced_twice)
{
    expect_refused("onnx_output_produced_twice.bin", "is produced by an earlier node too");
}
