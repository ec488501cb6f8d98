#!/usr/bin/python3
"""Writes the image fixtures that tests/unit/data/test_images.c reads, once (the files are
committed; nothing runs at test time):

  tests/data/images/            a class-per-folder tree: ant/, moose/, zebra/ (listed out of
                                order on purpose) with PNG (RGB, grey, palette, RGBA, 16-bit
                                grey) and JPEG (RGB, grey) files of odd sizes
  tests/data/images_bad/        two classes with a truncated PNG, a truncated JPEG and a text
                                file among good images
  tests/data/images_ref/ref.txt reference values: raw pixels of a PNG, PIL's decode of a JPEG,
                                PIL's convert("L"), and torch's bilinear resize
                                (F.interpolate(mode="bilinear", align_corners=False))
  tests/data/images_ref/*.npy   the same 4-D features in NCHW and NHWC, with labels

Deterministic: running it again produces the same bytes. Run from the repository root with
Debian's python3-pil, python3-numpy and python3-torch."""
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = "tests/data/images"
BAD = "tests/data/images_bad"
REF = "tests/data/images_ref"


def pixels(seed, h, w, c):
    rng = np.random.RandomState(seed)
    return rng.randint(0, 256, size=(h, w, c)).astype(np.uint8)


def save(img, path, **kw):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img.save(path, **kw)


def smooth(seed, h, w):
    """An RGB image with gentle gradients, so JPEG round-trips stay close."""
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // max(w - 1, 1)).astype(np.uint8)
    g = (y * 255 // max(h - 1, 1)).astype(np.uint8)
    b = np.full((h, w), (seed * 37) % 256, dtype=np.uint8)
    return np.stack([r, g, b], axis=2)


def line(f, name, arr):
    arr = np.asarray(arr, dtype=np.float64)
    f.write("%s %s %s\n" % (name, " ".join(str(s) for s in arr.shape),
                            " ".join("%.9g" % v for v in arr.ravel())))


def main():
    # ---- the good tree ----
    rgb = pixels(1, 5, 7, 3)                       # 5 rows, 7 columns
    save(Image.fromarray(rgb, "RGB"), ROOT + "/ant/a0.png")
    save(Image.fromarray(pixels(2, 6, 4, 1)[:, :, 0], "L"), ROOT + "/ant/a1.png")
    save(Image.fromarray(smooth(3, 9, 12), "RGB"), ROOT + "/ant/a2.jpg", quality=95)
    save(Image.fromarray(pixels(4, 8, 8, 4), "RGBA"), ROOT + "/ant/a3.png")
    save(Image.fromarray(smooth(5, 10, 6), "RGB"), ROOT + "/moose/m0.jpeg", quality=90)
    pal = Image.fromarray(pixels(6, 7, 9, 3), "RGB").convert("P", palette=Image.ADAPTIVE, colors=16)
    save(pal, ROOT + "/moose/m1.png")
    grey16 = (pixels(7, 5, 5, 1)[:, :, 0].astype(np.uint16) * 257)
    save(Image.fromarray(grey16, "I;16"), ROOT + "/moose/m2.png")
    save(Image.fromarray(pixels(8, 11, 13, 3), "RGB"), ROOT + "/zebra/z0.png", optimize=False)
    save(Image.fromarray(smooth(9, 16, 16)[:, :, 0], "L"), ROOT + "/zebra/z1.jpg", quality=95)
    save(Image.fromarray(pixels(10, 6, 6, 3), "RGB"), ROOT + "/zebra/z2.png")
    save(Image.fromarray(pixels(11, 4, 5, 3), "RGB"), ROOT + "/zebra/z3.png")
    save(Image.fromarray(pixels(12, 9, 7, 3), "RGB"), ROOT + "/zebra/z4.png")
    # hidden files and files beside the class folders are not examples
    with open(ROOT + "/README.txt", "w") as f:
        f.write("Fixture images for the images data source; made by tools/gen_images.py.\n")
    with open(ROOT + "/zebra/.hidden", "w") as f:
        f.write("not an example\n")

    # ---- the bad tree ----
    save(Image.fromarray(pixels(20, 5, 5, 3), "RGB"), BAD + "/good/g0.png")
    save(Image.fromarray(pixels(21, 5, 5, 3), "RGB"), BAD + "/good/g1.png")
    save(Image.fromarray(pixels(22, 5, 5, 3), "RGB"), BAD + "/mixed/ok.png")
    with open(BAD + "/mixed/notes.txt", "w") as f:
        f.write("this is not an image\n")
    save(Image.fromarray(pixels(23, 32, 32, 3), "RGB"), BAD + "/mixed/cut.png")
    data = open(BAD + "/mixed/cut.png", "rb").read()
    open(BAD + "/mixed/cut.png", "wb").write(data[: len(data) // 2])
    save(Image.fromarray(pixels(24, 48, 48, 3), "RGB"), BAD + "/mixed/cut.jpg", quality=90)
    data = open(BAD + "/mixed/cut.jpg", "rb").read()
    open(BAD + "/mixed/cut.jpg", "wb").write(data[: len(data) * 2 // 3])

    # ---- reference values ----
    os.makedirs(REF, exist_ok=True)
    with open(REF + "/ref.txt", "w") as f:
        f.write("# name dims... values (made by tools/gen_images.py)\n")
        # raw bytes of ant/a0.png, planar [3, 5, 7]
        line(f, "a0_raw", rgb.transpose(2, 0, 1))
        # PIL's decode of ant/a2.jpg, planar [3, 9, 12]
        jpg = np.asarray(Image.open(ROOT + "/ant/a2.jpg").convert("RGB"))
        line(f, "a2_pil", jpg.transpose(2, 0, 1))
        # PIL's convert("L") of ant/a0.png, [1, 5, 7]
        grey = np.asarray(Image.open(ROOT + "/ant/a0.png").convert("L"))
        line(f, "a0_grey", grey[None, :, :])
        # torch's bilinear resize of ant/a0.png as [0, 1] floats
        t = torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32) / 255.0)[None]
        for (h, w) in [(3, 4), (11, 13), (5, 10), (8, 3)]:
            r = F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)
            line(f, "a0_resize_%dx%d" % (h, w), r[0].numpy())
        # mean/std on top of the resize
        r = F.interpolate(t, size=(4, 6), mode="bilinear", align_corners=False)[0]
        mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
        std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
        line(f, "a0_norm_4x6", ((r - mean) / std).numpy())

    # 4-D features: NCHW and the same values NHWC
    rng = np.random.RandomState(30)
    x = rng.standard_normal((5, 2, 3, 4)).astype(np.float32)
    np.save(REF + "/x_nchw.npy", x)
    np.save(REF + "/x_nhwc.npy", np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    np.save(REF + "/y.npy", np.array([0, 1, 2, 1, 0], dtype=np.int64))


if __name__ == "__main__":
    main()
