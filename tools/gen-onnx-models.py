"""gen-onnx-models.py: exports real architectures from torch to ONNX with seeded random weights,
each with a fixed input and torch's output as text (a shape line, then the values, "%.9g"), for
the tests that compare surgery's predict on the import with torch (tests/unit/formats/
test_onnx_models.c). The small ones (a CNN with batch norm, exported in eval mode with the
batch norm folded into the convolution and with TrainingMode.PRESERVE keeping it, a VGG-style
body, a CNN of the other image operators, an MLP, a batch-first LSTM with a head, two
stacked LSTM layers, a batch-first bidirectional LSTM with a head, two time-major LSTMs with
direction "reverse" (built with onnx.helper, as torch writes none; without and with peepholes,
their outputs from the LSTM reference of onnx's backend tests run over the reversed sequence,
x and y written batch first like torch's; and two with constant non-zero initial_h and
initial_c, forward and reverse with peepholes, and one whose initial states are Expands of
one row to the batch), an
embedding, explicit
padding before pools and a conv, a multiply gate and clamps of any bounds, an MLP with SELU and
a LogSoftmax head) go to tests/data/onnx/models/ and are committed; the
torchvision ones (resnet18, mobilenet_v2, squeezenet1_1), too large to commit, go to
build/onnx-models/ for the benchmarks and the same test when present.

Usage: /usr/bin/python3 tools/gen-onnx-models.py [SMALL_DIR [BIG_DIR]]
(GEN_ONNX_ONLY="NAME ...": write only these models)
"""
import os
import sys

import numpy as np
import torch
import torchvision

SMALL = sys.argv[1] if len(sys.argv) > 1 else "tests/data/onnx/models"
BIG = sys.argv[2] if len(sys.argv) > 2 else "build/onnx-models"
ONLY = os.environ.get("GEN_ONNX_ONLY", "").split()


def write(path, t):
    with open(path, "w") as f:
        f.write(" ".join(str(d) for d in t.shape) + "\n")
        f.write(" ".join("%.9g" % v for v in t.detach().flatten().tolist()) + "\n")


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(16)
        self.pool = torch.nn.MaxPool2d(2)
        self.fc = torch.nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.pool(torch.relu(self.bn2(self.conv2(x))))
        return self.fc(torch.flatten(x, 1))


class CNNOps(torch.nn.Module):
    """The other image operators torch exports: a grouped and a dilated convolution with
    asymmetric work, average pooling counting its padding (torch writes a Pad before the
    AveragePool) and not counting it, max pooling in ceil mode, channel concatenation, a
    residual add and the clipping and leaky activations."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.grouped = torch.nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.dilated = torch.nn.Conv2d(8, 8, 3, padding=2, dilation=2)
        self.pool_pad = torch.nn.AvgPool2d(3, stride=1, padding=1)
        self.pool_nopad = torch.nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.pool_ceil = torch.nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.act1 = torch.nn.LeakyReLU(0.1)
        self.act2 = torch.nn.Hardtanh()
        self.act3 = torch.nn.ELU(0.5)
        self.fc = torch.nn.Linear(16 * 3 * 3, 5)

    def forward(self, x):
        x = self.act1(self.stem(x))
        x = x + self.act2(self.grouped(x))
        x = torch.cat([self.pool_pad(x), self.act3(self.dilated(x))], 1)
        x = self.pool_ceil(self.pool_nopad(x))
        return torch.sigmoid(self.fc(torch.flatten(x, 1)))


class VGGBody(torch.nn.Module):
    """Two VGG blocks (conv 3x3 + relu twice, max pool), adaptive average pooling to 2x2 and
    a classifier with dropout, as torchvision's VGG at a small width."""

    def __init__(self):
        super().__init__()
        c = [3, 16, 16, 32, 32]
        layers = []
        for i in range(4):
            layers += [torch.nn.Conv2d(c[i], c[i + 1], 3, padding=1), torch.nn.ReLU(True)]
            if i % 2 == 1:
                layers.append(torch.nn.MaxPool2d(2, 2))
        self.features = torch.nn.Sequential(*layers)
        self.avgpool = torch.nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = torch.nn.Sequential(
            torch.nn.Linear(32 * 2 * 2, 64), torch.nn.ReLU(True), torch.nn.Dropout(),
            torch.nn.Linear(64, 10))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class Seq(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(4, 6, batch_first=True)
        self.fc = torch.nn.Linear(6, 3)

    def forward(self, x):
        return self.fc(self.lstm(x)[0])


class Seq2(torch.nn.Module):
    """Two stacked LSTM layers: torch slices each layer's zero initial state out of one
    ConstantOfShape and numbers the second node /lstm/LSTM_1."""

    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(4, 6, num_layers=2, batch_first=True)

    def forward(self, x):
        return self.lstm(x)[0]


class BiSeq(torch.nn.Module):
    """A batch-first bidirectional LSTM and a head: torch writes one LSTM with direction
    "bidirectional", then Transpose and Reshape of its Y to [T, B, 2H] (forward first)."""

    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(4, 5, batch_first=True, bidirectional=True)
        self.fc = torch.nn.Linear(10, 3)

    def forward(self, x):
        return self.fc(self.lstm(x)[0])


class Embed(torch.nn.Module):
    """nn.Embedding of one token per sample (a Gather of the weight's rows) and a head."""

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(10, 4)
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(torch.tanh(self.emb(x)))


class PadPool(torch.nn.Module):
    """Explicit zero padding before a max pool (kept as a zero_padding layer: padding that
    wins a max) and before an average pool (folded into its padding, counted) and a conv."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 4, 3)
        self.conv2 = torch.nn.Conv2d(4, 4, 3)
        self.fc = torch.nn.Linear(4 * 4 * 4, 2)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.nn.functional.pad(self.conv(x), (1, 1, 1, 1)), 2)
        x = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(x, (0, 1, 0, 1)), 2, 1,
                                           count_include_pad=False)
        x = self.conv2(torch.nn.functional.pad(x, (2, 0, 1, 1)))
        return self.fc(torch.flatten(x, 1))


class GateClip(torch.nn.Module):
    """A product of two activations (a sigmoid gate times the features, ONNX Mul) on images and
    on flat features, and clamps of any bounds (ONNX Clip): both, only a minimum, only a
    maximum, and relu6's [0, 6]."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.gate = torch.nn.Conv2d(4, 4, 1)
        self.conv2 = torch.nn.Conv2d(4, 4, 3)
        self.fc = torch.nn.Linear(4 * 6 * 6, 5)
        self.fc_gate = torch.nn.Linear(4 * 6 * 6, 5)
        self.head = torch.nn.Linear(5, 3)

    def forward(self, x):
        x = torch.clamp(self.conv(x), -0.5, 0.75)
        x = x * torch.sigmoid(self.gate(x))
        x = torch.clamp(self.conv2(x), min=-0.05)
        x = torch.nn.functional.relu6(x)
        x = torch.flatten(x, 1)
        h = self.fc(x) * torch.tanh(self.fc_gate(x))
        return self.head(torch.clamp(h, max=0.02))


def randomize_bn(m):
    """Running statistics and affine parameters away from their defaults."""
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.5, 0.5)


def export(name, model, x, out, training=torch.onnx.TrainingMode.EVAL):
    if ONLY and name not in ONLY:
        return
    os.makedirs(out, exist_ok=True)
    model.eval()
    with torch.no_grad():
        y = model(x)
        torch.onnx.export(model, x, os.path.join(out, name + ".onnx"), input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "batch"}},
                          opset_version=13, training=training)
    write(os.path.join(out, name + "_x.txt"), x)
    write(os.path.join(out, name + "_y.txt"), y)
    if x.dim() == 4:
        # for `surgery predict` in the end-to-end tests: the input as .npy, torch's rows as CSV
        np.save(os.path.join(out, name + "_x.npy"), x.numpy())
        np.savetxt(os.path.join(out, name + "_y.csv"), y.numpy(), fmt="%.9g", delimiter=",")


def reverse_lstm(name, peep, out, initial=False, direction="reverse"):
    """One ONNX LSTM with direction "reverse" (or forward) over a time-major x [T, B, I], its
    Y's direction axis squeezed: y [T, B, H]; initial: constant non-zero initial_h and
    initial_c initializers [1, B, H], the same row for every example ("expand": Expands of
    one row [1, 1, H] to x's batch)."""
    if ONLY and name not in ONLY:
        return
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnx.backend.test.case.node.lstm import LSTM_Helper
    rng = np.random.default_rng(21 if peep else 20)
    T, B, I, H = 6, 2, 4, 5
    inits = [numpy_helper.from_array(rng.uniform(-0.5, 0.5, (1, 4 * H, I)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.uniform(-0.5, 0.5, (1, 4 * H, H)).astype(np.float32), "R"),
             numpy_helper.from_array(rng.uniform(-0.5, 0.5, (1, 8 * H)).astype(np.float32), "B"),
             numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")]
    ins = ["x", "W", "R", "B"]
    if peep:
        inits.append(numpy_helper.from_array(
            rng.uniform(-0.5, 0.5, (1, 3 * H)).astype(np.float32), "P"))
        ins += ["", "", "", "P"]
    nodes = []
    if initial:
        irng = np.random.default_rng(22)
        for k in ("initial_h", "initial_c"):
            row = irng.uniform(-0.8, 0.8, (1, 1, H)).astype(np.float32)
            if initial == "expand":   # [1, 1, H] expanded to [1, batch, H], as surgery writes
                inits.append(numpy_helper.from_array(row, k + "_row"))
                nodes.append(helper.make_node("Expand", [k + "_row", "state_shape"], [k]))
            else:
                inits.append(numpy_helper.from_array(np.repeat(row, B, axis=1), k))
        if initial == "expand":
            inits += [numpy_helper.from_array(np.array([v], dtype=np.int64), k)
                      for k, v in (("one", 1), ("hidden", H))]
            nodes = [helper.make_node("Shape", ["x"], ["x_shape"]),
                     helper.make_node("Gather", ["x_shape", "one"], ["batch"], axis=0),
                     helper.make_node("Concat", ["one", "batch", "hidden"], ["state_shape"],
                                      axis=0)] + nodes
        ins = (ins + ["", "", "", ""])[:4] + ["", "initial_h", "initial_c"] + ins[7:]
    nodes += [helper.make_node("LSTM", ins, ["Y"], name="rnn", hidden_size=H, direction=direction),
             helper.make_node("Squeeze", ["Y", "axes"], ["y"], name="squeeze")]
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [T, "batch", I])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [T, "batch", H])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    onnx.checker.check_model(m)
    os.makedirs(out, exist_ok=True)
    onnx.save(m, os.path.join(out, name + ".onnx"))
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    # ONNX's reverse direction: the forward recurrence over x[T-1] .. x[0], Y in input order
    arrays = {i.name: numpy_helper.to_array(i) for i in inits}
    extra = {"P": arrays["P"]} if peep else {}
    if initial:
        extra.update({k: np.broadcast_to(arrays[k + "_row" if initial == "expand" else k],
                                         (1, B, H)).copy() for k in ("initial_h", "initial_c")})
    rev = direction == "reverse"
    ref = LSTM_Helper(X=x[::-1].copy() if rev else x, W=arrays["W"], R=arrays["R"],
                      B=arrays["B"], **extra)
    y = ref.step()[0][:, 0]
    y = (y[::-1] if rev else y).astype(np.float32)
    write(os.path.join(out, name + "_x.txt"), torch.from_numpy(x.transpose(1, 0, 2).copy()))
    write(os.path.join(out, name + "_y.txt"), torch.from_numpy(y.transpose(1, 0, 2).copy()))


def main():
    reverse_lstm("lstm_reverse", False, SMALL)
    reverse_lstm("lstm_reverse_peepholes", True, SMALL)
    reverse_lstm("lstm_initial_state", False, SMALL, True, "forward")
    reverse_lstm("lstm_initial_state_reverse_peepholes", True, SMALL, True)
    reverse_lstm("lstm_initial_state_expand", False, SMALL, "expand", "forward")
    torch.manual_seed(12)
    cnn = SmallCNN()
    randomize_bn(cnn)
    x = torch.randn(2, 1, 16, 16)
    export("cnn_bn", cnn, x, SMALL)
    export("cnn_bn_preserve", cnn, x, SMALL, torch.onnx.TrainingMode.PRESERVE)
    export("vgg_body", VGGBody(), torch.randn(2, 3, 16, 16), SMALL)
    mlp = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8),
                              torch.nn.Sigmoid(), torch.nn.Linear(8, 4))
    export("mlp", mlp, torch.randn(3, 6), SMALL)
    export("lstm", Seq(), torch.randn(2, 5, 4), SMALL)
    export("cnn_ops", CNNOps(), torch.randn(2, 3, 12, 12), SMALL)
    export("lstm2", Seq2(), torch.randn(2, 5, 4), SMALL)
    export("embedding", Embed(), torch.tensor([3, 0, 9, 3, 7]), SMALL)
    export("pad_pool", PadPool(), torch.randn(2, 2, 8, 8), SMALL)
    export("gate_clip", GateClip(), torch.randn(2, 3, 8, 8), SMALL)
    selu = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.SELU(), torch.nn.Linear(7, 4),
                               torch.nn.LogSoftmax(dim=1))
    export("mlp_selu", selu, torch.randn(3, 5), SMALL)
    torch.manual_seed(14)
    export("bilstm", BiSeq(), torch.randn(2, 5, 4), SMALL)
    for name in ("resnet18", "mobilenet_v2", "squeezenet1_1"):
        torch.manual_seed(12)
        m = getattr(torchvision.models, name)()
        randomize_bn(m)
        export(name, m, torch.randn(1, 3, 224, 224), BIG)


main()
