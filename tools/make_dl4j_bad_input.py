#!/usr/bin/python3
"""make_dl4j_bad_input.py: writes the DL4J cases of tests/bad-input/hand/ (listed in hand.txt):
ModelSerializer-style zips of a small MLP (dense 3->4, output 4->5: 41 parameters) that are
wrong in one way each."""
import struct
import zipfile

OUT = "tests/bad-input/hand/"
CONF = ('{"backpropType": "Standard", "confs": ['
        '{"layer": {"@class": "org.deeplearning4j.nn.conf.layers.DenseLayer",'
        ' "activationFn": {"@class": "org.nd4j.linalg.activations.impl.ActivationReLU"},'
        ' "nin": 3, "nout": 4}, "variables": ["W", "b"]},'
        '{"layer": {"@class": "org.deeplearning4j.nn.conf.layers.OutputLayer",'
        ' "activationFn": {"@class": "org.nd4j.linalg.activations.impl.ActivationSoftmax"},'
        ' "lossFn": {"@class": "org.nd4j.linalg.lossfunctions.impl.LossMCXENT"},'
        ' "nin": 4, "nout": 5}, "variables": ["W", "b"]}]}')


def utf(s):
    return struct.pack(">H", len(s)) + s.encode()


def array(n, stored=None, dtype="FLOAT"):
    """A 1.0 Nd4j.write row vector [1, n] with `stored` values 1, 2, ... of dtype."""
    stored = n if stored is None else stored
    info = [2, 1, n, n, 1, 8192, 1, ord("c")]
    b = utf("MIXED_DATA_TYPES") + struct.pack(">q", len(info)) + utf("LONG")
    b += b"".join(struct.pack(">q", v) for v in info)
    b += utf("MIXED_DATA_TYPES") + struct.pack(">q", stored) + utf(dtype)
    b += b"".join(struct.pack(">f", float(i + 1)) for i in range(stored if dtype == "FLOAT" else 0))
    return b


def write(name, entries):
    with zipfile.ZipFile(OUT + name, "w", zipfile.ZIP_DEFLATED) as z:
        for entry, data in entries:
            z.writestr(zipfile.ZipInfo(entry, (1980, 1, 1, 0, 0, 0)), data)


write("dl4j_no_conf.zip", [("configuration.json.old", CONF), ("coefficients.bin", array(41))])
write("dl4j_count.zip", [("configuration.json", CONF), ("coefficients.bin", array(40))])
write("dl4j_truncated.zip", [("configuration.json", CONF), ("coefficients.bin", array(41)[:-9])])
write("dl4j_utf8.zip", [("configuration.json", CONF), ("coefficients.bin", array(41, 0, "UTF8"))])
write("dl4j_list.zip", [("configuration.json", "[1, 2]"), ("coefficients.bin", array(41))])
write("dl4j_confs.zip", [("configuration.json", '{"confs": 3}'), ("coefficients.bin", array(41))])
