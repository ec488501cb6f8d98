#!/usr/bin/python3
# gen_dl4j_oracles.py: turns DL4J's recorded inputs and outputs (Nd4j.write arrays in
# tests/data/dl4j/, see its README) into what `surgery predict` reads and writes, for
# tests/e2e/test_dl4j_read.sh: the input as .npy (recurrent [batch, features, time] swapped to
# surgery's [batch, time, features]; images NCHW as they are) and DL4J's output as predict's CSV
# (run from the repo root with Debian's /usr/bin/python3).
import struct

import numpy as np

D = "tests/data/dl4j/"


def nd4j(path):
    """The array of an Nd4j.write file, honouring its shape, strides and data type."""
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
        if mode in ("LONG_SHAPE", "MIXED_DATA_TYPES"):
            n = struct.unpack(">q", b[at:at + 8])[0]
            at += 8
        else:
            n = struct.unpack(">i", b[at:at + 4])[0]
            at += 4
        dt = {"INT": ">i4", "LONG": ">i8", "FLOAT": ">f4", "DOUBLE": ">f8"}[utf()]
        size = n * np.dtype(dt).itemsize
        a = np.frombuffer(b[at:at + size], dtype=dt)
        at += size
        return a

    info, data = buf(), buf()
    rank = int(info[0])
    shape = tuple(int(x) for x in info[1:1 + rank])
    strides = tuple(int(x) * 8 for x in info[1 + rank:1 + 2 * rank])
    return np.array(np.lib.stride_tricks.as_strided(data.astype(np.float64), shape, strides))


def write_csv(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(",".join("%.9g" % v for v in r) + "\n")


def main():
    x = nd4j(D + "SyntheticCNN_Input_100b4.bin").astype(np.float32)
    y = nd4j(D + "SyntheticCNN_Output_100b4.bin")
    np.save(D + "synthetic_cnn_input.npy", x)
    write_csv(D + "synthetic_cnn_expected.csv", y.reshape(y.shape[0], -1))
    x = nd4j(D + "GravesLSTMCharModelingExample_Input_100b4.bin").astype(np.float32)
    y = nd4j(D + "GravesLSTMCharModelingExample_Output_100b4.bin")
    np.save(D + "char_model_input.npy", np.ascontiguousarray(x.transpose(0, 2, 1)))
    rows = [[b, t] + list(y[b, :, t]) for b in range(y.shape[0]) for t in range(y.shape[2])]
    write_csv(D + "char_model_expected.csv", rows)


if __name__ == "__main__":
    main()
