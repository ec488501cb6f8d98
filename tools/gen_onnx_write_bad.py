#!/usr/bin/python3
"""gen_onnx_write_bad.py: the bad-input cases of surgery-written ONNX files for `surgery convert`
(tests/bad-input/hand/onnx_*.onnx), made from an export of tests/bad-input/common/mlp.yaml:
  python3 tools/gen_onnx_write_bad.py build/surgery
They break what the reader rebuilds from the writer's metadata (docs/format.md, "ONNX writing"):
a cut file, a layer of an unknown type, an initializer shorter than its shape, a frozen layer
that does not exist."""
import os
import subprocess
import sys
import tempfile

import onnx

surgery = sys.argv[1] if len(sys.argv) > 1 else "build/surgery"
here = os.path.dirname(os.path.abspath(__file__))
hand = os.path.join(here, "..", "tests", "bad-input", "hand")
with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, "mlp.onnx")
    subprocess.run([surgery, "convert", "-q", os.path.join(here, "..", "tests", "bad-input",
                                                          "common", "mlp.yaml"), src], check=True)
    data = open(src, "rb").read()

open(os.path.join(hand, "onnx_cut.onnx"), "wb").write(data[: len(data) * 2 // 3])


def edited(name, fn):
    m = onnx.load_from_string(data)
    fn(m)
    open(os.path.join(hand, name), "wb").write(m.SerializeToString())


def meta(m, key):
    return [p for p in m.metadata_props if p.key == key][0]


def unknown_type(m):
    p = meta(m, "surgery.layers")
    p.value = p.value.replace("\tdense\t", "\tdens\t", 1)


def short_initializer(m):
    t = [t for t in m.graph.initializer if t.raw_data][0]
    t.raw_data = t.raw_data[:-4]


def frozen_missing(m):
    m.metadata_props.add(key="surgery.frozen", value="nothing\n")


edited("onnx_unknown_type.onnx", unknown_type)
edited("onnx_short_initializer.onnx", short_initializer)
edited("onnx_frozen_missing.onnx", frozen_missing)
