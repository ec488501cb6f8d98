#!/usr/bin/python3
"""convert_onnx_lstm.py: turns ONNX's LSTM conformance cases (package libonnx-testdata) into
fixtures in surgery's lstm / graves_lstm parameter layout, for tests/unit/nn/test_lstm_onnx.c.

Cases: test_lstm_defaults, test_lstm_with_initial_bias, test_lstm_with_peepholes (their
input_N.pb / output_0.pb read with python3-onnx), plus two cases with random weights, several
time steps and batch rows whose expected outputs come from ONNX's own reference
implementation (onnx.backend.test.case.node.lstm.LSTM_Helper, the code that generated the
conformance data): the conformance cases have constant weights and one time step, so they
cannot tell the gate blocks apart nor exercise the forget and input-gate peepholes.

Usage: /usr/bin/python3 tools/convert_onnx_lstm.py [ONNX_NODE_DIR] [OUT_DIR]
Fixture format (read by tests/unit/nn/lstm_fixture.h): lines `tensor NAME NDIM D0 ... Dn-1`
followed by the values (C order, "%.9g", float32 round trip), `#` comments.
"""
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.case.node.lstm import LSTM_Helper

from fixture_text import write_fixture  # the fixture format, one writer

NODE_DIR = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/libonnx-testdata/data/node"
OUT_DIR = sys.argv[2] if len(sys.argv) > 2 else "tests/data/onnx"

# ONNX gate blocks are i, o, f, c; ours are a (= ONNX c, the block input), f, o, i.
ONNX_BLOCK_FOR_OURS = [3, 2, 1, 0]


def reorder_rows(m, h):
    """[4h, k] in ONNX block order -> [4h, k] in our block order."""
    return np.concatenate([m[b * h:(b + 1) * h] for b in ONNX_BLOCK_FOR_OURS], axis=0)


def to_ours(W, R, B, P, h):
    """ONNX W [1, 4h, in], R [1, 4h, h], B [1, 8h] or None, P [1, 3h] or None ->
    our W [in, 4h], RW [h, 4h] (+3 peephole columns when P is given), b [4h]."""
    W = reorder_rows(W[0], h).T
    RW = reorder_rows(R[0], h).T
    if B is None:
        b = np.zeros(4 * h, np.float32)
    else:
        wb, rb = B[0][:4 * h], B[0][4 * h:]
        b = reorder_rows((wb + rb)[:, None], h)[:, 0]
    if P is not None:
        p_i, p_o, p_f = P[0][:h], P[0][h:2 * h], P[0][2 * h:]
        RW = np.concatenate([RW, p_f[:, None], p_o[:, None], p_i[:, None]], axis=1)
    return (np.ascontiguousarray(W, np.float32), np.ascontiguousarray(RW, np.float32),
            np.ascontiguousarray(b, np.float32))


def load_case(name):
    d = os.path.join(NODE_DIR, name)
    model = onnx.load(os.path.join(d, "model.onnx"))
    (node,) = model.graph.node
    assert node.op_type == "LSTM"
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    h = attrs["hidden_size"]
    vals = {}
    for i, iname in enumerate(node.input):
        if not iname:
            continue
        t = onnx.TensorProto()
        with open(os.path.join(d, "test_data_set_0", "input_%d.pb" % i), "rb") as f:
            t.ParseFromString(f.read())
        vals[iname] = numpy_helper.to_array(t)
    outs = {}
    for i, oname in enumerate(node.output):
        if not oname:
            continue
        t = onnx.TensorProto()
        with open(os.path.join(d, "test_data_set_0", "output_%d.pb" % (len(outs))), "rb") as f:
            t.ParseFromString(f.read())
        outs[oname] = numpy_helper.to_array(t)
    return h, attrs, vals, outs


def conformance(name, out_name):
    h, attrs, v, outs = load_case(name)
    assert attrs.get("direction", b"forward") in (b"forward", "forward")
    X = v["X"]
    T, B, _ = X.shape
    if "sequence_lens" in v:
        assert (v["sequence_lens"] == T).all(), "variable lengths are not converted"
    for k in ("initial_h", "initial_c"):
        if k in v:
            assert not v[k].any(), "non-zero initial state is not converted"
    W, RW, b = to_ours(v["W"], v["R"], v.get("B"), v.get("P"), h)
    peep = "P" in v
    # the full Y from ONNX's reference, checked against the case's own Y_h
    ref = LSTM_Helper(**{k: v[k] for k in ("X", "W", "R", "B", "P") if k in v})
    Y, Y_h = ref.step()
    assert np.allclose(Y_h, outs["Y_h"], atol=1e-6)
    write_fixture(os.path.join(OUT_DIR, out_name),
                  "ONNX conformance case %s (libonnx-testdata), converted to the %s layout.\n"
                  "x [T, B, n_in]; W, RW, b ours; y_h = the case's output Y_h [B, n] (the last "
                  "step);\ny = all steps [T, B, n] from ONNX's reference implementation."
                  % (name, "graves_lstm" if peep else "lstm"),
                  [("x", X), ("W", W), ("RW", RW), ("b", b), ("y_h", outs["Y_h"][0]),
                   ("y", Y[:, 0])])


def random_case(out_name, seed, T, B, n_in, h, peep):
    rs = np.random.RandomState(seed)
    X = rs.uniform(-1, 1, (T, B, n_in)).astype(np.float32)
    Wo = rs.uniform(-0.6, 0.6, (1, 4 * h, n_in)).astype(np.float32)
    Ro = rs.uniform(-0.6, 0.6, (1, 4 * h, h)).astype(np.float32)
    Bo = rs.uniform(-0.5, 0.5, (1, 8 * h)).astype(np.float32)
    params = {"X": X, "W": Wo, "R": Ro, "B": Bo}
    Po = None
    if peep:
        Po = rs.uniform(-0.8, 0.8, (1, 3 * h)).astype(np.float32)
        params["P"] = Po
    ref = LSTM_Helper(**{k: v.copy() for k, v in params.items()})
    Y, Y_h = ref.step()
    W, RW, b = to_ours(Wo, Ro, Bo, Po, h)
    write_fixture(os.path.join(OUT_DIR, out_name),
                  "Random ONNX LSTM (seed %d, T %d, B %d, n_in %d, hidden %d, %s), expected "
                  "outputs from\nONNX's reference implementation LSTM_Helper, converted to the "
                  "%s layout." % (seed, T, B, n_in, h, "peepholes" if peep else "no peepholes",
                                  "graves_lstm" if peep else "lstm"),
                  [("x", X), ("W", W), ("RW", RW), ("b", b), ("y_h", Y_h[0]), ("y", Y[:, 0])])


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    conformance("test_lstm_defaults", "lstm_defaults.txt")
    conformance("test_lstm_with_initial_bias", "lstm_with_initial_bias.txt")
    conformance("test_lstm_with_peepholes", "lstm_with_peepholes.txt")
    random_case("lstm_random.txt", 7, 6, 3, 5, 11, False)
    random_case("lstm_random_peepholes.txt", 11, 7, 4, 3, 10, True)


if __name__ == "__main__":
    main()
