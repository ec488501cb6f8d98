"""fixture_text.py: the text fixture format the golden generators write and
tests/unit/nn/lstm_fixture.h reads: `#` comment lines, then per tensor a line
`tensor NAME NDIM D0 ... Dn-1` followed by its values (C order, "%.9g", eight a line, a float32
round trip)."""
import numpy as np


def write_fixture(path, comment, tensors):
    """Writes the (name, array) pairs of tensors to path, after comment as `#` lines."""
    with open(path, "w") as f:
        for line in comment.strip().splitlines():
            f.write("# " + line + "\n")
        for name, a in tensors:
            a = np.asarray(a, np.float32)
            f.write("tensor %s %d %s\n" % (name, a.ndim, " ".join(str(d) for d in a.shape)))
            flat = a.ravel()
            for i in range(0, flat.size, 8):
                f.write(" ".join("%.9g" % v for v in flat[i:i + 8]) + "\n")
