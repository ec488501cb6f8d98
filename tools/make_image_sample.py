#!/usr/bin/python3
"""make_image_sample.py: writes the inputs `make demo` feeds to `surgery predict --classes` for
the image models: the first test image of each class of examples/data/digit_images/0to4 and
5to9, one CSV row each (its 64 grey pixels in row order, scaled to [0, 1] as images() reads
them: byte / 255), into examples/digits_images/sample_0to4.csv and sample_5to9.csv.
Run from the repository root with Debian's python3-pil; deterministic."""
import glob
import os

import numpy as np
from PIL import Image

ROOT = "examples/data/digit_images"
OUT = "examples/digits_images"


def main():
    for half in ("0to4", "5to9"):
        rows = []
        for folder in sorted(glob.glob(os.path.join(ROOT, half, "test", "*"))):
            first = sorted(glob.glob(os.path.join(folder, "*.png")))[0]
            pixels = np.asarray(Image.open(first).convert("L"), dtype=np.float64) / 255.0
            rows.append(",".join("%.9g" % v for v in pixels.reshape(-1)))
        with open(os.path.join(OUT, "sample_%s.csv" % half), "w") as f:
            f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
