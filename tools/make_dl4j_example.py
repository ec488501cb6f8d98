#!/usr/bin/python3
"""make_dl4j_example.py: writes the inputs of examples/dl4j/ from files already in the project:
sample.npy, the DL4J fixture's recorded input (tests/data/dl4j/GravesLSTMCharModelingExample_
Input_100b4.bin, [3, 77, 10] as DL4J lays out recurrent data) as surgery's batch-first
[3, 10, 77]; expected.csv, DL4J's own output on it (..._Output_100b4.bin) in the CSV layout of
`surgery predict` (example, step, outputs); and gpl-3-dl4j.txt, the GPL-3 text of
examples/data/gpl-3.txt without the characters outside the char model's vocabulary (DL4J's
CharacterIterator.getMinimalCharacterSet(), which drops them the same way)."""
import struct

import numpy as np

DL4J = "tests/data/dl4j/GravesLSTMCharModelingExample_"
VOCAB = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
         "!&()?-'\",.:; \n\t")


def read_nd4j(path):
    """A 1.0 Nd4j.write array (MIXED_DATA_TYPES, LONG shape information, FLOAT data)."""
    b = open(path, "rb").read()
    at = 0

    def utf():
        nonlocal at
        n = struct.unpack(">H", b[at:at + 2])[0]
        s = b[at + 2:at + 2 + n].decode()
        at += 2 + n
        return s

    def buf():
        nonlocal at
        mode = utf()
        assert mode == "MIXED_DATA_TYPES", mode
        n = struct.unpack(">q", b[at:at + 8])[0]
        at += 8
        kind = utf()
        fmt, size = {"LONG": (">i8", 8), "FLOAT": (">f4", 4)}[kind]
        v = np.frombuffer(b[at:at + n * size], dtype=fmt)
        at += n * size
        return v

    info = buf()
    data = buf()
    rank = int(info[0])
    shape = [int(x) for x in info[1:1 + rank]]
    strides = [int(x) for x in info[1 + rank:1 + 2 * rank]]
    out = np.lib.stride_tricks.as_strided(data.astype(np.float32), shape=shape,
                                          strides=[s * 4 for s in strides])
    return np.array(out)


def main():
    x = read_nd4j(DL4J + "Input_100b4.bin")          # [batch, features, time]
    y = read_nd4j(DL4J + "Output_100b4.bin")
    np.save("examples/dl4j/sample.npy", np.ascontiguousarray(x.transpose(0, 2, 1)))
    with open("examples/dl4j/expected.csv", "w") as f:
        for e in range(y.shape[0]):
            for t in range(y.shape[2]):
                f.write(",".join([str(e), str(t)] + ["%.9g" % v for v in y[e, :, t]]) + "\n")
    text = open("examples/data/gpl-3.txt", encoding="latin-1").read()
    keep = "".join(c for c in text if c in VOCAB)
    open("examples/dl4j/gpl-3-dl4j.txt", "w", encoding="latin-1", newline="").write(keep)
    assert len(VOCAB) == 77


if __name__ == "__main__":
    main()
