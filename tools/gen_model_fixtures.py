#!/usr/bin/python3
# gen_model_fixtures.py: writes the models under tests/data/models/ whose weights and expected
# outputs come from PyTorch (run from the repo root with Debian's /usr/bin/python3). The weights
# files are written here with plain struct + json, as any safetensors user would, without the
# architecture hash (the loader then checks tensor names and shapes alone); `surgery predict`
# must reproduce PyTorch's outputs on the same inputs.
import json
import os
import struct

import numpy as np
import torch

OUT = "tests/data/models"
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(7)
np.random.seed(7)


def write_safetensors(path, tensors, metadata=None):
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    blobs, off = [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write(name, text):
    with open(os.path.join(OUT, name), "w") as f:
        f.write(text)


def floats(v):
    return "[" + ", ".join(repr(np.float32(x)) for x in v) + "]"


# ---- mlp: dense(relu) -> output(softmax), standardize normaliser ----
hidden = torch.nn.Linear(4, 8)
out = torch.nn.Linear(8, 3)
shift = np.array([5.8, 3.0, 3.7, 1.2], dtype=np.float32)
scale = np.array([1.2, 2.3, 0.57, 1.3], dtype=np.float32)
write("mlp.yaml", f"""format: surgery-model/1
name: mlp
inputs:
  - name: features
    type: feed_forward
    size: 4
layers:
  - name: hidden
    type: dense
    inputs: [features]
    n_out: 8
    activation: relu
  - name: out
    type: output
    inputs: [hidden]
    n_out: 3
    activation: softmax
    loss: mcxent
outputs: [out]
normalizer:
  kind: standardize
  shift: {floats(shift)}
  scale: {floats(scale)}
weights: mlp.safetensors
""")
write_safetensors(os.path.join(OUT, "mlp.safetensors"), {
    "hidden.W": hidden.weight.detach().numpy().T, "hidden.b": hidden.bias.detach().numpy(),
    "out.W": out.weight.detach().numpy().T, "out.b": out.bias.detach().numpy(),
}, {"format": "surgery-model/1"})
x = (np.random.rand(5, 4) * np.array([2, 1.5, 4, 2]) + np.array([4.5, 2, 1, 0.1])).astype(np.float32)
np.save(os.path.join(OUT, "mlp_input.npy"), x)
np.save(os.path.join(OUT, "mlp_input_f8.npy"), x.astype(np.float64))
with open(os.path.join(OUT, "mlp_input.csv"), "w") as f:
    for row in x:
        f.write(",".join(repr(float(v)) for v in row) + "\n")
with torch.no_grad():
    xn = torch.from_numpy((x - shift) * scale)
    y = torch.softmax(out(torch.relu(hidden(xn))), dim=1).numpy()
np.save(os.path.join(OUT, "mlp_expected.npy"), y.astype(np.float32))

# The same YAML with a different hidden width: the weights no longer fit.
write("mlp_wrong_shape.yaml", open(os.path.join(OUT, "mlp.yaml")).read().replace("n_out: 8", "n_out: 9"))

# ---- seq: lstm(tanh) -> rnn_output(softmax), batch-first input [2, 6, 3] ----
lstm = torch.nn.LSTM(3, 5, batch_first=True)
head = torch.nn.Linear(5, 2)


def dl4j_gates(w):
    """PyTorch's gate blocks (i, f, g, o) -> ours [a | f | o | i] (a = PyTorch's g)."""
    i, f, g, o = np.split(w, 4, axis=0)
    return np.concatenate([g, f, o, i], axis=0)


write("seq.yaml", """format: surgery-model/1
name: seq
inputs:
  - name: steps
    type: recurrent
    size: 3
layers:
  - name: lstm
    type: lstm
    inputs: [steps]
    n_out: 5
    activation: tanh
  - name: head
    type: rnn_output
    inputs: [lstm]
    n_out: 2
    activation: softmax
    loss: mcxent
outputs: [head]
weights: seq.safetensors
""")
wih = lstm.weight_ih_l0.detach().numpy()
whh = lstm.weight_hh_l0.detach().numpy()
bias = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().numpy()
write_safetensors(os.path.join(OUT, "seq.safetensors"), {
    "lstm.W": dl4j_gates(wih).T, "lstm.RW": dl4j_gates(whh).T, "lstm.b": dl4j_gates(bias),
    "head.W": head.weight.detach().numpy().T, "head.b": head.bias.detach().numpy(),
})
xs = np.random.randn(2, 6, 3).astype(np.float32)
np.save(os.path.join(OUT, "seq_input.npy"), xs)
with open(os.path.join(OUT, "seq_input.csv"), "w") as f:
    for row in xs[0]:
        f.write(",".join(repr(float(v)) for v in row) + "\n")
with torch.no_grad():
    h, _ = lstm(torch.from_numpy(xs))
    ys = torch.softmax(head(h), dim=2).numpy()
np.save(os.path.join(OUT, "seq_expected.npy"), ys.astype(np.float32))

# CSV forms of the expected outputs, in the layouts `surgery predict` writes.
with open(os.path.join(OUT, "mlp_expected.csv"), "w") as f:
    for row in y:
        f.write(",".join(repr(float(v)) for v in row) + "\n")
with open(os.path.join(OUT, "seq_expected.csv"), "w") as f:
    for b in range(ys.shape[0]):
        for t in range(ys.shape[1]):
            f.write(f"{b},{t}," + ",".join(repr(float(v)) for v in ys[b, t]) + "\n")

# Input for the untrained two-branch graph (graph.yaml, written by hand).
np.save(os.path.join(OUT, "graph_input.npy"), np.random.rand(2, 10).astype(np.float32))
