#!/usr/bin/python3
"""make_dl4j_example.py: writes the inputs of examples/dl4j/ from files already in the project:
sample.npy, the DL4J fixture's recorded input (tests/data/dl4j/GravesLSTMCharModelingExample_
Input_100b4.bin, [3, 77, 10] as DL4J lays out recurrent data) as surgery's batch-first
[3, 10, 77]; expected.csv, DL4J's own output on it (..._Output_100b4.bin) in the CSV layout of
`surgery predict` (example, step, outputs); and gpl-3-dl4j.txt, the GPL-3 text of
examples/data/gpl-3.txt without the characters outside the char model's vocabulary (DL4J's
CharacterIterator.getMinimalCharacterSet(), which drops them the same way)."""
import numpy as np

from nd4j_file import nd4j

DL4J = "tests/data/dl4j/GravesLSTMCharModelingExample_"
VOCAB = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
         "!&()?-'\",.:; \n\t")


def main():
    x = nd4j(DL4J + "Input_100b4.bin").astype(np.float32)          # [batch, features, time]
    y = nd4j(DL4J + "Output_100b4.bin").astype(np.float32)
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
