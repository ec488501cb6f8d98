"""gen-onnx-bad-input.py: writes the ONNX models of the bad-input corpus that the ONNX reader
refuses by their content (tests/bad-input/hand.txt lists them with their messages): operators
surgery cannot map (all of them in one error; a broadcasting Mul), a dynamic non-batch axis, weights fed as a graph
input, reflection padding, Clip bounds min > max, a grouped Conv whose weights do not
fit, a graph input of an optional type, and an LSTM whose non-zero initial state differs between batch rows.

Usage: /usr/bin/python3 tools/gen-onnx-bad-input.py [OUT_DIR]   (default tests/bad-input/hand)
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/bad-input/hand"


def floats(name, shape, seed=0):
    rng = np.random.default_rng(seed)
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)


def save(name, nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7
    onnx.save(m, "%s/%s.onnx" % (OUT, name))


def vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def main():
    x4 = vi("x", ["batch", 3, 8, 8])
    save("onnx_unsupported_ops",
         [helper.make_node("Selu", ["x"], ["a"], alpha=2.0, name="/act/Selu"),
          helper.make_node("Mul", ["x", "z"], ["b"], name="/gate/Mul"),
          helper.make_node("LogSoftmax", ["b"], ["c"], axis=0, name="/head/LogSoftmax"),
          helper.make_node("Add", ["a", "c"], ["y"], name="/out/Add")],
         [vi("x", ["batch", 4]), vi("z", ["batch", 1])], [vi("y", ["batch", 4])])
    save("onnx_dynamic_axis", [helper.make_node("Relu", ["x"], ["y"])],
         [vi("x", ["batch", "width"])], [vi("y", ["batch", "width"])])
    save("onnx_weights_as_input", [helper.make_node("Conv", ["x", "w"], ["y"], name="/conv/Conv")],
         [x4, vi("w", [4, 3, 3, 3])], [vi("y", ["batch", 4, 6, 6])])
    save("onnx_reflect_pad",
         [helper.make_node("Pad", ["x", "pads"], ["y"], mode="reflect", name="/pad/Pad")],
         [x4], [vi("y", ["batch", 3, 10, 10])],
         [numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")])
    save("onnx_clip_bounds", [helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="/clip/Clip")],
         [vi("x", ["batch", 4])], [vi("y", ["batch", 4])],
         [numpy_helper.from_array(np.array(2, np.float32), "lo"),
          numpy_helper.from_array(np.array(-2, np.float32), "hi")])
    save("onnx_conv_groups",
         [helper.make_node("Conv", ["x", "w"], ["y"], group=2, name="/conv/Conv")],
         [vi("x", ["batch", 4, 8, 8])], [vi("y", ["batch", 4, 6, 6])], [floats("w", [4, 3, 3, 3])])
    opt = helper.make_value_info("x", helper.make_optional_type_proto(
        helper.make_tensor_type_proto(TensorProto.FLOAT, ["batch", 4])))
    save("onnx_optional_input", [helper.make_node("Identity", ["x"], ["y"])], [opt],
         [vi("y", ["batch", 4])], opset=16)
    save("onnx_lstm_initial_state",
         [helper.make_node("LSTM", ["x", "W", "R", "", "", "h0"], ["y"], hidden_size=2,
                           name="/lstm/LSTM")],
         [vi("x", [5, 2, 3])], [vi("y", [5, 1, 2, 2])],
         [floats("W", [1, 8, 3]), floats("R", [1, 8, 2], 1), floats("h0", [1, 2, 2], 2)])

main()
