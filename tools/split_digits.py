#!/usr/bin/python3
"""Makes the handwritten-digit example data under examples/data/ (run from the repository root).

examples/data/digits.csv: the 1797 8x8 digits that scikit-learn ships (digits.csv.gz, from the
UCI optical recognition of handwritten digits set), uncompressed: 64 pixel columns (0..16) and
the digit in the last column, no header. When it is missing it is extracted from the
python3-sklearn package.

The four splits for transfer-learning examples, deterministic (no randomness):
  digits_0to4_train.csv, digits_0to4_test.csv: the digits 0..4, labels 0..4
  digits_5to9_train.csv, digits_5to9_test.csv: the digits 5..9, labels written as 0..4
    (digit - 5), so a 5-class head trained on 0..4 can be replaced by one for 5..9
Within each half, every fifth example of each digit (the 1st, 6th, 11th, ... in file order)
goes to the test file and the rest to the train file.
"""
import gzip
import os

OUT = "examples/data"
SKLEARN = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"


def load_rows():
    path = os.path.join(OUT, "digits.csv")
    if not os.path.exists(path):
        with gzip.open(SKLEARN, "rt") as f:
            text = f.read()
        with open(path, "w", newline="") as f:
            f.write(text if text.endswith("\n") else text + "\n")
    with open(path) as f:
        rows = [line.strip().split(",") for line in f if line.strip()]
    for r in rows:
        if len(r) != 65:
            raise SystemExit(f"{path}: a row has {len(r)} fields, expected 65")
    return rows


def label(row):
    return int(float(row[64]))


def write(name, rows):
    with open(os.path.join(OUT, name), "w", newline="") as f:
        for r in rows:
            f.write(",".join(r) + "\n")


def main():
    rows = load_rows()
    for lo, name in ((0, "0to4"), (5, "5to9")):
        train, test, seen = [], [], {}
        for r in rows:
            digit = label(r)
            if not lo <= digit < lo + 5:
                continue
            k = seen.get(digit, 0)
            seen[digit] = k + 1
            out = r[:64] + [str(digit - lo)]
            (test if k % 5 == 0 else train).append(out)
        write(f"digits_{name}_train.csv", train)
        write(f"digits_{name}_test.csv", test)
        print(f"digits_{name}: {len(train)} train, {len(test)} test")


if __name__ == "__main__":
    main()
