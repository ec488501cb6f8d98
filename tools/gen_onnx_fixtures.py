"""gen_onnx_fixtures.py: exports the ONNX fixtures of tests/unit/formats/test_onnx.c with torch
(seeded weights): an MLP and an LSTM (batch_first), each with an input and torch's output as
text (shape line, then the values, "%.9g").

Usage: /usr/bin/python3 tools/gen_onnx_fixtures.py [OUT_DIR]   (default tests/data/onnx)
"""
import sys
import torch

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/data/onnx"


def write(path, t):
    with open(path, "w") as f:
        f.write(" ".join(str(d) for d in t.shape) + "\n")
        f.write(" ".join("%.9g" % v for v in t.detach().flatten().tolist()) + "\n")


class Seq(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(3, 5, batch_first=True)

    def forward(self, x):
        return self.lstm(x)[0]


def main():
    torch.manual_seed(7)
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3),
                              torch.nn.Softmax(dim=1)).eval()
    x = torch.randn(5, 4)
    torch.onnx.export(mlp, x, OUT + "/mlp.onnx", input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}})
    write(OUT + "/mlp_x.txt", x)
    write(OUT + "/mlp_y.txt", mlp(x))
    seq = Seq().eval()
    x = torch.randn(2, 6, 3)
    torch.onnx.export(seq, x, OUT + "/lstm.onnx", input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}})
    write(OUT + "/lstm_x.txt", x)
    write(OUT + "/lstm_y.txt", seq(x))


main()
