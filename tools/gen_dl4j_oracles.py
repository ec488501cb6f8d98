#!/usr/bin/python3
# gen_dl4j_oracles.py: turns DL4J's recorded inputs and outputs (Nd4j.write arrays in
# tests/data/dl4j/, see its README) into what `surgery predict` reads and writes, for
# tests/e2e/test_dl4j_read.sh: the input as .npy (recurrent [batch, features, time] swapped to
# surgery's [batch, time, features]; images NCHW as they are) and DL4J's output as predict's CSV
# (run from the repo root with Debian's /usr/bin/python3).
import numpy as np

from nd4j_file import nd4j

D = "tests/data/dl4j/"


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
