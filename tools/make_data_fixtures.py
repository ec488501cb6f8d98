#!/usr/bin/python3
"""Writes the small data files under tests/data/data/ that tests/unit/data/test_data.c reads:
CSV, sequence CSV, .npy, idx and text fixtures, good and deliberately broken. Deterministic:
running it again produces the same bytes. Run from the repository root."""
import os
import struct

import numpy as np

OUT = "tests/data/data"


def write(path, text):
    full = os.path.join(OUT, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w", newline="") as f:
        f.write(text)


def write_bytes(path, data):
    with open(os.path.join(OUT, path), "wb") as f:
        f.write(data)


def csv_fixtures():
    rows = ["f0,f1,f2,f3,label"]
    for i in range(10):
        rows.append(f"{i},{i * 0.5},{-i},{1 + i / 10},{i % 3}")
    write("small.csv", "\n".join(rows) + "\n")
    # label first, tab separated, CRLF line ends, a blank line in the middle
    rows = []
    for i in range(6):
        rows.append(f"{i % 2}\t{i}.25\t{10 - i}")
        if i == 2:
            rows.append("")
    write("small_tab.tsv", "\r\n".join(rows) + "\r\n")
    rows = []
    for i in range(8):
        x = [i, i * 2, 1 - i]
        rows.append(",".join(str(v) for v in x + [x[0] + x[1], 2 * x[2]]))
    write("regression.csv", "\n".join(rows) + "\n")
    good = ["1,2,3,4,0", "5,6,7,8,1", "9,10,11,12,2"]
    write("bad_fields.csv", "a,b,c,d,label\n" + "\n".join(good[:2] + ["9,10,11,2"]) + "\n")
    write("bad_number.csv", "\n".join(good + ["13,abc,15,16,0"]) + "\n")
    write("bad_label.csv", "\n".join(good + ["13,14,15,16,3"]) + "\n")
    write("bad_fraction.csv", "\n".join(good[:1] + ["13,14,15,16,1.5"]) + "\n")
    write("bad_nan.csv", "\n".join(good[:2] + ["13,14,nan,16,0"]) + "\n")
    write("bad_inf.csv", "\n".join(good[:1] + ["13,-inf,15,16,0"]) + "\n")
    write("bad_empty_field.csv", "\n".join(good[:1] + ["13,,15,16,0"]) + "\n")
    write("header_only.csv", "a,b,c,d,label\n")


def sequence_fixtures():
    lengths = [3, 3, 2, 4]
    for s, n in enumerate(lengths):
        feats, labs, both = [], [], []
        for t in range(n):
            a, b = s * 10 + t, (s + t) % 5 - 2
            label = (s + t) % 3
            feats.append(f"{a},{b}")
            labs.append(f"{label}")
            both.append(f"{a},{b},{label}")
        write(f"seq/{s}.csv", "\n".join(feats) + "\n")
        write(f"seqlabels/{s}.csv", "\n".join(labs) + "\n")
        write(f"seqboth/{s}.csv", "\n".join(both) + "\n")
        write(f"seqone/{s}.csv", f"{s % 2}\n")
        # regression targets: 2 per step
        write(f"seqreg/{s}.csv", "\n".join(f"{s + t},{-t}" for t in range(n)) + "\n")
    # labels shorter than features for sequence 1 (breaks align = equal)
    for s, n in enumerate(lengths):
        m = n - 1 if s == 1 else n
        write(f"seqshort/{s}.csv", "\n".join(str(t % 3) for t in range(m)) + "\n")
    # a sequence with a bad label on its second step
    write("seqbad/0.csv", "1,2,0\n3,4,7\n")


def npy_fixtures():
    x = (np.arange(18, dtype=np.float32).reshape(6, 3) / 4.0).astype(np.float32)
    np.save(os.path.join(OUT, "x.npy"), x)
    y = np.array([0, 1, 2, 1, 0, 2], dtype=np.int64)
    np.save(os.path.join(OUT, "y.npy"), y)
    np.save(os.path.join(OUT, "y_onehot.npy"), np.eye(3, dtype=np.float32)[y])
    np.save(os.path.join(OUT, "y_reg.npy"), np.stack([x[:, 0] + x[:, 1], x[:, 2] * 2], axis=1).astype(np.float64))
    xs = np.arange(40, dtype=np.float64).reshape(4, 5, 2)
    np.save(os.path.join(OUT, "xseq.npy"), xs)
    np.save(os.path.join(OUT, "yseq.npy"), (np.arange(20, dtype=np.int32).reshape(4, 5) % 3))
    np.save(os.path.join(OUT, "x_int.npy"), np.arange(18, dtype=np.int32).reshape(6, 3))
    np.save(os.path.join(OUT, "y_short.npy"), y[:5])
    xn = x.copy()
    xn[4, 1] = np.nan
    np.save(os.path.join(OUT, "x_nan.npy"), xn)
    yb = y.copy()
    yb[3] = 7
    np.save(os.path.join(OUT, "y_bad.npy"), yb)


def idx_fixtures():
    n, r, c = 5, 2, 3
    pixels = bytes((i * 37) % 256 for i in range(n * r * c))
    header = struct.pack(">IIII", 0x803, n, r, c)
    write_bytes("images.idx3", header + pixels)
    labels = bytes([3, 1, 4, 1, 5])
    write_bytes("labels.idx1", struct.pack(">II", 0x801, n) + labels)
    write_bytes("bad_magic.idx3", struct.pack(">IIII", 0x802, n, r, c) + pixels)
    write_bytes("truncated.idx3", header + pixels[:-4])
    write_bytes("labels_short.idx1", struct.pack(">II", 0x801, n - 1) + labels[:-1])
    write_bytes("labels_big.idx1", struct.pack(">II", 0x801, n) + bytes([3, 1, 12, 1, 5]))


def text_fixtures():
    write("small.txt", "hello world\nhello there\n")


if __name__ == "__main__":
    csv_fixtures()
    sequence_fixtures()
    npy_fixtures()
    idx_fixtures()
    text_fixtures()
