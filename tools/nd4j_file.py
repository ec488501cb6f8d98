# nd4j_file.py: reads Nd4j.write arrays (DL4J's saved INDArrays, docs/format.md) for the
# generator scripts under tools/ that turn DL4J's recorded data into project files.
import struct

import numpy as np


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
