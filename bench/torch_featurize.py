#!/usr/bin/python3
"""torch_featurize.py: the featurize benchmark's models and data, and its PyTorch peer.

  gen DIR      writes into DIR, with numpy: a frozen MLP 784-1024-1024 + output 10 (mlp.yaml +
               mlp.safetensors) with 20,000 rows of data (mlp_x.npy, mlp_y.npy), and a frozen
               LSTM 32->256 + rnn_output 10 (lstm.yaml + lstm.safetensors) with 2,000 sequences
               of 50 steps (lstm_x.npy, lstm_y.npy).
  run DIR [REPS]
               times PyTorch on the same weights and data: the frozen part under no_grad over
               the data (read from the .npy file) in batches of the same size, the features
               kept in memory; prints NAME_featurize median_seconds examples, median of REPS
               (default 3).
  check DIR CACHE_ENTRY NAME
               compares the features a featurize cache entry holds with PyTorch's (max abs diff).
"""
import glob
import json
import os
import statistics
import struct
import sys
import time

import numpy as np

MLP = dict(n=20000, features=784, hidden=1024, classes=10, batch=128)
LSTM = dict(n=2000, steps=50, features=32, hidden=256, classes=10, batch=64)


def write_safetensors(path, tensors):
    names = sorted(tensors)
    header, off = {"__metadata__": {"format": "surgery-model/1"}}, 0
    for k in names:
        a = tensors[k]
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for k in names:
            f.write(np.ascontiguousarray(tensors[k], dtype="<f4").tobytes())


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    return {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dtype="<f4")
            .reshape(v["shape"]) for k, v in header.items()}


def xavier(rng, n_in, n_out, fan_in=None, fan_out=None):
    std = (2.0 / ((fan_in or n_in) + (fan_out or n_out))) ** 0.5
    return (rng.standard_normal((n_in, n_out)) * std).astype(np.float32)


def gen(d):
    rng = np.random.default_rng(7)
    m = MLP
    write_safetensors(os.path.join(d, "mlp.safetensors"), {
        "fc1.W": xavier(rng, m["features"], m["hidden"]),
        "fc1.b": (rng.standard_normal(m["hidden"]) * 0.01).astype(np.float32),
        "fc2.W": xavier(rng, m["hidden"], m["hidden"]),
        "fc2.b": (rng.standard_normal(m["hidden"]) * 0.01).astype(np.float32),
        "out.W": xavier(rng, m["hidden"], m["classes"]),
        "out.b": np.zeros(m["classes"], np.float32)})
    with open(os.path.join(d, "mlp.yaml"), "w") as f:
        f.write(f"""format: surgery-model/1
name: mlp
inputs:
  - name: in
    type: feed_forward
    size: {m["features"]}
layers:
  - name: fc1
    type: dense
    n_out: {m["hidden"]}
    activation: relu
  - name: fc2
    type: dense
    n_out: {m["hidden"]}
    activation: relu
  - name: out
    type: output
    n_out: {m["classes"]}
    activation: softmax
    loss: mcxent
outputs: [out]
weights: mlp.safetensors
""")
    x = rng.standard_normal((m["n"], m["features"]), dtype=np.float32)
    teacher = rng.standard_normal((m["features"], m["classes"]), dtype=np.float32)
    np.save(os.path.join(d, "mlp_x.npy"), x)
    np.save(os.path.join(d, "mlp_y.npy"), np.argmax(x @ teacher, axis=1).astype(np.int64))

    s = LSTM
    n, h = s["features"], s["hidden"]
    b = np.zeros(4 * h, np.float32)
    b[h:2 * h] = 1.0                                   # forget gate block (a, f, o, i)
    write_safetensors(os.path.join(d, "lstm.safetensors"), {
        "lstm1.W": xavier(rng, n, 4 * h, fan_in=h, fan_out=n + h),
        "lstm1.RW": xavier(rng, h, 4 * h, fan_in=h, fan_out=n + h),
        "lstm1.b": b,
        "out.W": xavier(rng, h, s["classes"]),
        "out.b": np.zeros(s["classes"], np.float32)})
    with open(os.path.join(d, "lstm.yaml"), "w") as f:
        f.write(f"""format: surgery-model/1
name: seq
inputs:
  - name: in
    type: recurrent
    size: {n}
layers:
  - name: lstm1
    type: lstm
    n_out: {h}
    activation: tanh
  - name: out
    type: rnn_output
    n_out: {s["classes"]}
    activation: softmax
    loss: mcxent
outputs: [out]
weights: lstm.safetensors
""")
    x = rng.standard_normal((s["n"], s["steps"], n), dtype=np.float32)
    teacher = rng.standard_normal((n, s["classes"]), dtype=np.float32)
    np.save(os.path.join(d, "lstm_x.npy"), x)
    np.save(os.path.join(d, "lstm_y.npy"), np.argmax(x @ teacher, axis=2).astype(np.int64))


def torch_models(d):
    import torch
    w = read_safetensors(os.path.join(d, "mlp.safetensors"))
    fc1 = torch.nn.Linear(MLP["features"], MLP["hidden"])
    fc2 = torch.nn.Linear(MLP["hidden"], MLP["hidden"])
    for lin, k in ((fc1, "fc1"), (fc2, "fc2")):
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w[k + ".W"].T.copy()))
            lin.bias.copy_(torch.from_numpy(w[k + ".b"].copy()))
    mlp_frozen = torch.nn.Sequential(fc1, torch.nn.ReLU(), fc2, torch.nn.ReLU())

    w = read_safetensors(os.path.join(d, "lstm.safetensors"))

    def to_torch(a):                                  # ours (a, f, o, i) -> torch (i, f, g, o)
        a_, f, o, i = np.split(a, 4, axis=0)
        return torch.from_numpy(np.concatenate([i, f, a_, o], axis=0).copy())
    lstm = torch.nn.LSTM(LSTM["features"], LSTM["hidden"])
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(to_torch(w["lstm1.W"].T))
        lstm.weight_hh_l0.copy_(to_torch(w["lstm1.RW"].T))
        lstm.bias_ih_l0.copy_(to_torch(w["lstm1.b"]))
        lstm.bias_hh_l0.zero_()
    for p in list(mlp_frozen.parameters()) + list(lstm.parameters()):
        p.requires_grad_(False)
    return mlp_frozen, lstm


def featurize_mlp(frozen, x, batch):
    import torch
    feats = np.empty((x.shape[0], MLP["hidden"]), np.float32)
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            feats[i:i + batch] = frozen(torch.from_numpy(np.array(x[i:i + batch]))).numpy()
    return feats


def featurize_lstm(lstm, x, batch):
    import torch
    feats = np.empty((x.shape[0], x.shape[1], LSTM["hidden"]), np.float32)
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            xb = torch.from_numpy(np.array(x[i:i + batch])).transpose(0, 1).contiguous()
            h, _ = lstm(xb)                          # time-major [T, B, H]
            feats[i:i + batch] = h.transpose(0, 1).numpy()
    return feats


def median_time(fn, reps):
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def run(d, reps):
    import torch
    torch.set_num_threads(2)
    torch.manual_seed(0)
    mlp_frozen, lstm = torch_models(d)
    for name, fn, model, batch in (("mlp", featurize_mlp, mlp_frozen, MLP["batch"]),
                                   ("lstm", featurize_lstm, lstm, LSTM["batch"])):
        path = os.path.join(d, name + "_x.npy")
        x = np.load(path, mmap_mode="r")
        fn(model, x[:batch * 2], batch)                                   # warm-up
        t = median_time(lambda: fn(model, np.load(path, mmap_mode="r"), batch), reps)
        print(f"{name}_featurize {t:.6f} {x.shape[0]}")


def check(d, entry, name):
    """Max abs difference between a cache entry's features (shards ######.x00.npy, batch-first)
    and PyTorch's features of the same data."""
    import torch
    torch.set_num_threads(2)
    mlp_frozen, lstm = torch_models(d)
    shards = sorted(glob.glob(os.path.join(entry, "*.x00.npy")))
    ours = np.concatenate([np.load(p) for p in shards], axis=0)
    x = np.load(os.path.join(d, name + "_x.npy"))
    if name == "mlp":
        ref = featurize_mlp(mlp_frozen, x, MLP["batch"])
    else:
        ref = featurize_lstm(lstm, x, LSTM["batch"])
    if ours.shape != ref.shape:
        print(f"shape {list(ours.shape)} != {list(ref.shape)}")
        return 1
    print(f"{np.abs(ours - ref).max():.3g}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "gen":
        gen(sys.argv[2])
    elif len(sys.argv) in (3, 4) and sys.argv[1] == "run":
        run(sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else 3)
    elif len(sys.argv) == 5 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3], sys.argv[4]))
    else:
        sys.exit(__doc__)
