#!/usr/bin/python3
# gen_npy_fixtures.py: writes the .npy files tests/unit/tensor/test_npy.c reads (run from the repo root
# with Debian's /usr/bin/python3; numpy decides the exact bytes, so the reader is checked against
# the real writer).
import io
import os

import numpy as np

OUT = "tests/data/npy"
os.makedirs(OUT, exist_ok=True)


def save(name, a, version=None):
    path = os.path.join(OUT, name)
    if version is None:
        np.save(path, a)
    else:
        with open(path, "wb") as f:
            np.lib.format.write_array(f, a, version=version)


base = (np.arange(12, dtype=np.float64).reshape(3, 4) - 5.5) / 4.0
save("f4.npy", base.astype("<f4"))
save("f8.npy", base.astype("<f8"))
save("f2.npy", base.astype("<f2"))
save("f4_v2.npy", base.astype("<f4"), version=(2, 0))
save("f4_v3.npy", base.astype("<f4"), version=(3, 0))
save("i1.npy", np.array([-128, -1, 0, 127], dtype="i1"))
save("i2.npy", np.array([-32768, 5, 32767], dtype="<i2"))
save("i4.npy", np.array([[0, 1, 2], [3, 4, 2147483647]], dtype="<i4"))
save("i8.npy", np.array([0, 9, -3, 1 << 40], dtype="<i8"))
save("u1.npy", np.array([0, 200, 255], dtype="u1"))
save("u2.npy", np.array([65535], dtype="<u2"))
save("u4.npy", np.array([4000000000], dtype="<u4"))
save("u8.npy", np.array([7, 2], dtype="<u8"))
save("b1.npy", np.array([True, False, True]))
save("scalar.npy", np.array(3.5, dtype="<f4"))
save("seq.npy", np.arange(24, dtype="<f4").reshape(2, 3, 4))
save("empty.npy", np.zeros((0, 4), dtype="<f4"))
save("labels_float.npy", np.array([0.0, 2.0, 1.0], dtype="<f4"))
save("labels_fraction.npy", np.array([0.0, 2.5, 1.0], dtype="<f4"))
save("fortran.npy", np.asfortranarray(base.astype("<f4")))
save("big_endian.npy", base.astype(">f4"))
with open(os.path.join(OUT, "object.npy"), "wb") as f:
    np.lib.format.write_array(f, np.array([1, "a", None], dtype=object), allow_pickle=True)
save("strings.npy", np.array(["ab", "cd"]))
save("complex.npy", np.array([1 + 2j], dtype="<c8"))
save("structured.npy", np.zeros(2, dtype=[("x", "<f4"), ("y", "<i4")]))
save("five_d.npy", np.zeros((1, 1, 1, 1, 2), dtype="<f4"))
buf = io.BytesIO()
np.save(buf, base.astype("<f4"))
raw = buf.getvalue()
with open(os.path.join(OUT, "truncated.npy"), "wb") as f:
    f.write(raw[:-5])
with open(os.path.join(OUT, "bad_magic.npy"), "wb") as f:
    f.write(b"\x93NUMPX" + raw[6:])
