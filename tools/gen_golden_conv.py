#!/usr/bin/python3
"""gen_golden_conv.py: golden forward and backward results for surgery's conv2d,
depthwise_conv2d and separable_conv2d, from PyTorch, for tests/unit/nn/test_conv_torch.c.

Every case draws a float32 input x [B, C, H, W] (odd sizes: 7 x 5), weights in surgery's layout
(which is PyTorch's: W [n_out, n_in / groups, kH, kW], b [n_out]; separable: W the depthwise
[n_in * multiplier, 1, kH, kW], pW the pointwise [n_out, n_in * multiplier, 1, 1]) and a weighting
R of the output, and records y = forward(x) and the gradients of sum(y * R) with respect to x
and every parameter, computed in float64 by torch.nn.functional.conv2d and autograd.

Padding: explicit [top, left, bottom, right] and `same` (out = ceil(in / stride), the odd cell
at the bottom and right, as DL4J's ConvolutionMode.Same and ONNX SAME_UPPER) are applied with
F.pad before an unpadded conv2d, so asymmetric padding is exact.

Usage: /usr/bin/python3 tools/gen_golden_conv.py [OUT_DIR]   (default tests/data/conv)
Fixture format as tools/gen_golden_lstm.py: `tensor NAME NDIM D0 ...` then the values; the
layer's options are the comment line starting with `options:` (script syntax, `;` between).
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_text import write_fixture  # noqa: E402  (the fixture format, one writer)

OUT_DIR = sys.argv[1] if len(sys.argv) > 1 else "tests/data/conv"
torch.set_default_dtype(torch.float64)


def same_pads(size, k, s, d):
    """(before, after) of `same` padding in one dimension."""
    out = (size + s - 1) // s
    total = max(0, (out - 1) * s + d * (k - 1) + 1 - size)
    return total // 2, total - total // 2


def padded(x, padding, k, stride, dilation):
    """x padded as surgery pads it: padding is 'valid', 'same' or [top, left, bottom, right]."""
    if padding == "valid":
        return x
    if padding == "same":
        top, bottom = same_pads(x.shape[2], k[0], stride[0], dilation[0])
        left, right = same_pads(x.shape[3], k[1], stride[1], dilation[1])
    else:
        top, left, bottom, right = padding
    return F.pad(x, (left, right, top, bottom))


def f32(rng, *shape, scale=1.0):
    return (rng.uniform(-1, 1, size=shape) * scale).astype(np.float32)


ACTS = {"identity": lambda z: z, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


def case(name, rng, kind, x_shape, k, stride=(1, 1), padding="valid", dilation=(1, 1),
         groups=1, n_out=None, multiplier=1, bias=True, activation="identity"):
    B, C, H, W = x_shape
    x = f32(rng, *x_shape)
    params = []
    if kind == "conv2d":
        w = f32(rng, n_out, C // groups, k[0], k[1], scale=0.5)
        params.append(("W", w))
        out_c = n_out
    else:
        w = f32(rng, C * multiplier, 1, k[0], k[1], scale=0.5)
        params.append(("W", w))
        out_c = C * multiplier
        if kind == "separable_conv2d":
            params.append(("pW", f32(rng, n_out, C * multiplier, 1, 1, scale=0.5)))
            out_c = n_out
    if bias:
        params.append(("b", f32(rng, out_c, scale=0.5)))
    xt = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    pt = {key: torch.from_numpy(v.astype(np.float64)).requires_grad_(True) for key, v in params}
    xp = padded(xt, padding, k, stride, dilation)
    if kind == "conv2d":
        z = F.conv2d(xp, pt["W"], pt.get("b"), stride=stride, dilation=dilation, groups=groups)
    elif kind == "depthwise_conv2d":
        z = F.conv2d(xp, pt["W"], pt.get("b"), stride=stride, dilation=dilation, groups=C)
    else:
        mid = F.conv2d(xp, pt["W"], None, stride=stride, dilation=dilation, groups=C)
        z = F.conv2d(mid, pt["pW"], pt.get("b"))
    y = ACTS[activation](z)
    R = f32(rng, *y.shape)
    (y * torch.from_numpy(R.astype(np.float64))).sum().backward()

    opts = ["kernel = [%d, %d]" % k, "stride = [%d, %d]" % stride,
            "dilation = [%d, %d]" % dilation, "activation = %s" % activation,
            "has_bias = %s" % ("true" if bias else "false")]
    opts.append("padding = %s" % (padding if isinstance(padding, str)
                                  else "[%d, %d, %d, %d]" % tuple(padding)))
    if kind == "conv2d":
        opts += ["n_out = %d" % n_out, "groups = %d" % groups]
    else:
        opts.append("multiplier = %d" % multiplier)
        if kind == "separable_conv2d":
            opts.append("n_out = %d" % n_out)
    tensors = [("x", x)] + params + [("R", R), ("y", y.detach().numpy()),
                                     ("dx", xt.grad.numpy())]
    tensors += [("d" + key, pt[key].grad.numpy()) for key, _ in params]
    comment = "%s: %s on %s, gradients of sum(y * R); PyTorch %s\ntype: %s\noptions: %s" % (
        name, kind, "x".join(str(d) for d in x_shape), torch.__version__, kind, "; ".join(opts))
    write_fixture(os.path.join(OUT_DIR, name + ".txt"), comment, tensors)
    print("%s: y %s" % (name, tuple(y.shape)))


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    rng = np.random.default_rng(20240611)
    case("conv_stride2_pad1", rng, "conv2d", (2, 3, 7, 5), (3, 3), stride=(2, 2),
         padding=[1, 1, 1, 1], n_out=4)
    case("conv_dilation2", rng, "conv2d", (2, 3, 7, 5), (3, 2), dilation=(2, 2), n_out=4)
    case("conv_groups2_same", rng, "conv2d", (2, 4, 7, 5), (3, 3), padding="same", groups=2,
         n_out=6, activation="tanh")
    case("conv_same_stride2_odd", rng, "conv2d", (2, 3, 7, 5), (2, 2), stride=(2, 2),
         padding="same", n_out=3)
    case("conv_asymmetric", rng, "conv2d", (2, 3, 7, 5), (3, 3), padding=[1, 0, 2, 1], n_out=4,
         activation="sigmoid")
    case("conv_nobias_1x1", rng, "conv2d", (2, 5, 7, 5), (1, 1), n_out=3, bias=False)
    case("depthwise_mult2", rng, "depthwise_conv2d", (2, 3, 7, 5), (3, 3), stride=(1, 2),
         padding=[1, 1, 1, 1], multiplier=2)
    case("depthwise_dilation2_same", rng, "depthwise_conv2d", (2, 2, 7, 5), (3, 3),
         dilation=(2, 2), padding="same", activation="tanh")
    case("separable_same", rng, "separable_conv2d", (2, 3, 7, 5), (3, 3), padding="same",
         multiplier=2, n_out=4, activation="tanh")
    case("separable_stride2_asym", rng, "separable_conv2d", (2, 3, 7, 5), (2, 3),
         stride=(2, 2), padding=[0, 1, 1, 1], n_out=5)


if __name__ == "__main__":
    main()
