#!/usr/bin/python3
"""Writes scikit-learn's 8x8 digits as grey PNG files for the image examples (run from the
repository root with Debian's python3-pil; the files are committed, nothing runs at test time).

It reads the four CSV splits that tools/split_digits.py makes, so the image examples see the
same train and test examples as the CSV ones:

  examples/data/digit_images/0to4/{train,test}/<digit>/NNNN.png   the digits 0..4
  examples/data/digit_images/5to9/{train,test}/<digit>/NNNN.png   the digits 5..9

One folder per class, named by the digit, so the `images(...)` source numbers the classes of
each half 0..4 as the CSV labels do. NNNN is the row's place in its CSV file (from 0), so the
files of a class sort in file order. Each pixel value v in 0..16 becomes round(v * 255 / 16).
Deterministic: running it again produces the same bytes."""
import os
import shutil

import numpy as np
from PIL import Image

CSV = "examples/data"
OUT = "examples/data/digit_images"
HALVES = {"0to4": 0, "5to9": 5}


def write_split(half, split, first_digit):
    path = os.path.join(CSV, "digits_%s_%s.csv" % (half, split))
    with open(path) as f:
        rows = [line.strip().split(",") for line in f if line.strip()]
    for index, row in enumerate(rows):
        if len(row) != 65:
            raise SystemExit("%s:%d: %d fields, expected 65" % (path, index + 1, len(row)))
        values = np.array([float(v) for v in row[:64]]).reshape(8, 8)
        grey = np.rint(values * 255.0 / 16.0).astype(np.uint8)
        digit = int(float(row[64])) + first_digit
        folder = os.path.join(OUT, half, split, str(digit))
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(grey, mode="L").save(os.path.join(folder, "%04d.png" % index),
                                             optimize=True)
    return len(rows)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    for half, first_digit in HALVES.items():
        for split in ("train", "test"):
            n = write_split(half, split, first_digit)
            print("%s/%s/%s: %d images" % (OUT, half, split, n))


if __name__ == "__main__":
    main()
