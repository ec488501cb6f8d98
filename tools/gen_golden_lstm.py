#!/usr/bin/python3
"""gen_golden_lstm.py: golden forward and backward results for surgery's lstm and graves_lstm,
from PyTorch, for tests/unit/nn/test_lstm_torch.c.

Every case draws float32 parameters in our layout (W [n_in, 4n], RW [n, 4n] or [n, 4n + 3],
b [4n]; gate blocks a | f | o | i; peephole columns forget, output, input gate), an input x
[T, B, n_in] and a weighting R of the output, and records y = forward(x) and the gradients of
sum(y * R) with respect to x, W, RW and b, computed in float64.

- lstm cases run torch.nn.LSTM itself (weights converted to its layout: weight_ih_l0 [4n, n_in]
  with gate blocks i, f, g, o; weight_hh_l0; bias_ih_l0 + bias_hh_l0 = our b).
- graves_lstm cases (PyTorch has no peepholes) run a step-by-step implementation of the
  peephole cell written with torch operations, differentiated by autograd; the script first
  checks that implementation against nn.LSTM (peepholes zero) and against ONNX's reference
  LSTM (with peepholes), so it is tied to both.
- Masks ([T, B] 0/1): a masked step outputs zero and leaves h and c unchanged, i.e. each
  example runs on the subsequence of its valid steps; for nn.LSTM that is exactly how the
  golden output is built (one nn.LSTM call per example on its valid steps).
- carry: a second segment x2 starts from the final (h, c) of the first (detached, as truncated
  BPTT); its gradients are recorded.

Usage: /usr/bin/python3 tools/gen_golden_lstm.py [OUT_DIR]   (default tests/data/lstm)
Fixture format as tools/convert_onnx_lstm.py: `tensor NAME NDIM D0 ...` then the values.
"""
import os
import sys

import numpy as np
import torch

from fixture_text import write_fixture  # the fixture format, one writer

OUT_DIR = sys.argv[1] if len(sys.argv) > 1 else "tests/data/lstm"
TORCH_BLOCK_FOR_OURS = [2, 1, 3, 0]   # ours a, f, o, i <- torch g, f, o, i
ONNX_BLOCK_FOR_OURS = [3, 2, 1, 0]    # ours a, f, o, i <- onnx c, f, o, i
torch.set_default_dtype(torch.float64)


def t64(a):
    """A float64 tensor from an array (float32 parameters widened exactly)."""
    return torch.from_numpy(np.array(a, np.float64))


def blocks_to_ours(m, n, order):
    """[4n, ...] in another framework's block order -> our block order."""
    return torch.cat([m[b * n:(b + 1) * n] for b in order], 0)


def ours_to_blocks(m, n, order):
    """[4n, ...] in our order -> the other framework's order (inverse of blocks_to_ours)."""
    parts = [None] * 4
    for ours, theirs in enumerate(order):
        parts[theirs] = m[ours * n:(ours + 1) * n]
    return torch.cat(parts, 0)


def draw(rs, T, B, n_in, n, peep, scale=0.5):
    f32 = np.float32
    x = rs.uniform(-1, 1, (T, B, n_in)).astype(f32)
    W = rs.uniform(-scale, scale, (n_in, 4 * n)).astype(f32)
    RW = rs.uniform(-scale, scale, (n, 4 * n + (3 if peep else 0))).astype(f32)
    b = rs.uniform(-0.3, 0.3, (4 * n,)).astype(f32)
    b[n:2 * n] += 1.0  # DL4J's forget-gate bias
    R = rs.uniform(-1, 1, (T, B, n)).astype(f32)
    return x, W, RW, b, R


def cell_model(x, W, RW, b, mask=None, h0=None, c0=None, act=torch.tanh):
    """The peephole LSTM in our layout, step by step (graves_lstm when RW has 4n + 3 columns).
    Returns y [T, B, n], (h, c)."""
    T, B, _ = x.shape
    n = RW.shape[0]
    G = 4 * n
    peep = RW.shape[1] == G + 3
    h = torch.zeros(B, n) if h0 is None else h0
    c = torch.zeros(B, n) if c0 is None else c0
    ys = []
    for t in range(T):
        z = x[t] @ W + h @ RW[:, :G] + b
        za, zf, zo, zi = z[:, :n], z[:, n:2 * n], z[:, 2 * n:3 * n], z[:, 3 * n:]
        if peep:
            zf = zf + RW[:, G] * c
            zi = zi + RW[:, G + 2] * c
        f, i, a = torch.sigmoid(zf), torch.sigmoid(zi), act(za)
        cn = f * c + i * a
        if peep:
            zo = zo + RW[:, G + 1] * cn
        o = torch.sigmoid(zo)
        hn = o * act(cn)
        if mask is None:
            h, c = hn, cn
            ys.append(hn)
        else:
            m = mask[t][:, None]
            h = m * hn + (1 - m) * h
            c = m * cn + (1 - m) * c
            ys.append(m * hn)
    return torch.stack(ys), (h, c)


def torch_lstm(W, RW, b, n_in, n):
    """nn.LSTM (float64) holding our parameters."""
    m = torch.nn.LSTM(n_in, n)
    with torch.no_grad():
        m.weight_ih_l0.copy_(ours_to_blocks(W.T, n, TORCH_BLOCK_FOR_OURS))
        m.weight_hh_l0.copy_(ours_to_blocks(RW[:, :4 * n].T, n, TORCH_BLOCK_FOR_OURS))
        m.bias_ih_l0.copy_(ours_to_blocks(b, n, TORCH_BLOCK_FOR_OURS))
        m.bias_hh_l0.zero_()
    return m


def torch_grads_ours(m, n):
    """Gradients of nn.LSTM's parameters in our layout (W, RW, b)."""
    dW = blocks_to_ours(m.weight_ih_l0.grad, n, TORCH_BLOCK_FOR_OURS).T
    dRW = blocks_to_ours(m.weight_hh_l0.grad, n, TORCH_BLOCK_FOR_OURS).T
    # our b stands for bias_ih + bias_hh: its gradient is that of either one
    assert torch.allclose(m.bias_ih_l0.grad, m.bias_hh_l0.grad)
    db = blocks_to_ours(m.bias_ih_l0.grad, n, TORCH_BLOCK_FOR_OURS)
    return dW, dRW, db


def nn_lstm_masked(m, x, mask):
    """nn.LSTM applied to each example's valid steps (our masking semantics)."""
    T, B, _ = x.shape
    n = m.hidden_size
    y = torch.zeros(T, B, n)
    for bi in range(B):
        idx = [t for t in range(T) if mask[t, bi] != 0]
        if idx:
            out, _ = m(x[idx, bi:bi + 1])
            y = y.index_put((torch.tensor(idx), torch.tensor([bi])), out[:, 0])
    return y


def lstm_case(name, seed, T, B, n_in, n, mask=None, comment=""):
    rs = np.random.RandomState(seed)
    x, W, RW, b, R = draw(rs, T, B, n_in, n, False)
    m = torch_lstm(t64(W), t64(RW), t64(b), n_in, n)
    xt = t64(x).requires_grad_()
    if mask is None:
        y, _ = m(xt)
    else:
        y = nn_lstm_masked(m, xt, mask)
    (y * t64(R)).sum().backward()
    dW, dRW, db = torch_grads_ours(m, n)
    # the step-by-step model agrees with nn.LSTM
    ym, _ = cell_model(t64(x), t64(W), t64(RW), t64(b),
                       None if mask is None else t64(mask))
    assert torch.allclose(ym, y, atol=1e-12)
    tensors = [("x", x), ("W", W), ("RW", RW), ("b", b), ("R", R)]
    if mask is not None:
        tensors.append(("mask", mask))
    tensors += [("y", y.detach()), ("dx", xt.grad), ("dW", dW), ("dRW", dRW), ("db", db)]
    write_fixture(os.path.join(OUT_DIR, name),
                  "torch.nn.LSTM (float64), seed %d, T %d, B %d, n_in %d, n %d%s.\n"
                  "y = forward(x); dx, dW, dRW, db = gradients of sum(y * R). %s"
                  % (seed, T, B, n_in, n, ", masked" if mask is not None else "", comment),
                  tensors)


def carry_case(name, seed, T, B, n_in, n):
    """Two segments: (x, R) then (x2, R2) starting from the first's final state."""
    rs = np.random.RandomState(seed)
    x, W, RW, b, _ = draw(rs, T, B, n_in, n, False)
    x2 = rs.uniform(-1, 1, (T, B, n_in)).astype(np.float32)
    R2 = rs.uniform(-1, 1, (T, B, n)).astype(np.float32)
    m = torch_lstm(t64(W), t64(RW), t64(b), n_in, n)
    with torch.no_grad():
        y1, (h1, c1) = m(t64(x))
    xt = t64(x2).requires_grad_()
    y2, _ = m(xt, (h1.detach(), c1.detach()))
    (y2 * t64(R2)).sum().backward()
    dW, dRW, db = torch_grads_ours(m, n)
    write_fixture(os.path.join(OUT_DIR, name),
                  "torch.nn.LSTM (float64), seed %d, T %d, B %d, n_in %d, n %d: carried state.\n"
                  "y = forward(x) from zeros; y2 = forward(x2) from the final (h, c) of the first "
                  "call (detached);\ndx2, dW, dRW, db = gradients of sum(y2 * R2)."
                  % (seed, T, B, n_in, n),
                  [("x", x), ("W", W), ("RW", RW), ("b", b), ("y", y1), ("x2", x2), ("R2", R2),
                   ("y2", y2.detach()), ("dx2", xt.grad), ("dW", dW), ("dRW", dRW), ("db", db)])


def check_cell_model_against_onnx(seed):
    """The peephole model agrees with ONNX's reference LSTM (onnx.backend.test.case.node.lstm)."""
    from onnx.backend.test.case.node.lstm import LSTM_Helper
    rs = np.random.RandomState(seed)
    T, B, n_in, n = 5, 3, 4, 7
    x, W, RW, b, _ = draw(rs, T, B, n_in, n, True)
    Wt = t64(W)
    RWt = t64(RW)
    G = 4 * n
    Wo = ours_to_blocks(Wt.T, n, ONNX_BLOCK_FOR_OURS).numpy()[None]
    Ro = ours_to_blocks(RWt[:, :G].T, n, ONNX_BLOCK_FOR_OURS).numpy()[None]
    Bo = np.concatenate([ours_to_blocks(t64(b), n, ONNX_BLOCK_FOR_OURS).numpy(),
                         np.zeros(G)])[None]
    Po = np.concatenate([RW[:, G + 2], RW[:, G + 1], RW[:, G]])[None]
    Y, _ = LSTM_Helper(X=x.astype(np.float64), W=Wo, R=Ro, B=Bo, P=Po).step()
    ym, _ = cell_model(t64(x), Wt, RWt, t64(b))
    assert np.allclose(Y[:, 0], ym.numpy(), atol=1e-10), "peephole model disagrees with ONNX"


def graves_case(name, seed, T, B, n_in, n, mask=None, act=torch.tanh, act_name="tanh"):
    rs = np.random.RandomState(seed)
    x, W, RW, b, R = draw(rs, T, B, n_in, n, True)
    p = [t64(a).requires_grad_() for a in (x, W, RW, b)]
    y, _ = cell_model(*p, mask=None if mask is None else t64(mask), act=act)
    (y * t64(R)).sum().backward()
    tensors = [("x", x), ("W", W), ("RW", RW), ("b", b), ("R", R)]
    if mask is not None:
        tensors.append(("mask", mask))
    tensors += [("y", y.detach()), ("dx", p[0].grad), ("dW", p[1].grad), ("dRW", p[2].grad),
                ("db", p[3].grad)]
    write_fixture(os.path.join(OUT_DIR, name),
                  "Peephole LSTM (graves_lstm layout) by torch autograd (float64), activation %s,"
                  "\nseed %d, T %d, B %d, n_in %d, n %d%s. y = forward(x); dx, dW, dRW, db = "
                  "gradients of sum(y * R)." % (act_name, seed, T, B, n_in, n,
                                                 ", masked" if mask is not None else ""),
                  tensors)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    check_cell_model_against_onnx(3)
    lstm_case("torch_lstm_small.txt", 1, 5, 3, 4, 6)
    lstm_case("torch_lstm_tail.txt", 2, 7, 2, 9, 13, comment="(n not a multiple of 8)")
    mask = np.array([[1, 0, 1, 1],
                     [1, 0, 1, 1],
                     [1, 1, 0, 1],
                     [1, 1, 1, 1],
                     [0, 1, 1, 1],
                     [0, 1, 1, 0]], np.float32)
    lstm_case("torch_lstm_mask.txt", 4, 6, 4, 3, 10, mask=mask,
              comment="\nMask: trailing padding, leading padding, a gap, all valid but the last.")
    carry_case("torch_lstm_carry.txt", 5, 4, 3, 5, 9)
    graves_case("torch_graves.txt", 6, 5, 3, 4, 9)
    graves_case("torch_graves_mask.txt", 7, 6, 4, 3, 10, mask=mask)
    graves_case("torch_graves_sigmoid.txt", 8, 4, 2, 3, 5, act=torch.sigmoid,
                act_name="sigmoid")


if __name__ == "__main__":
    main()
