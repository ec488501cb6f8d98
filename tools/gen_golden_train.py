#!/usr/bin/python3
# gen_golden_train.py: writes tests/data/train/{dense,lstm}.txt with PyTorch reference training
# runs (initial weights, data, weights after 20 steps per optimiser) in the runtime's layouts.
#
# Run with Debian's python3 (python3-torch): /usr/bin/python3 tools/gen_golden_train.py
# File format: blocks of "tensor NAME NDIM D0 .. Dn-1" followed by the values (row-major, %.9g).
import os
import sys

import numpy as np
import torch

torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "train")
STEPS = 20


def write(f, name, a):
    a = np.asarray(a, dtype=np.float32)
    f.write("tensor %s %d %s\n" % (name, a.ndim, " ".join(str(d) for d in a.shape)))
    flat = a.reshape(-1)
    for i in range(0, flat.size, 8):
        f.write(" ".join("%.9g" % v for v in flat[i:i + 8]) + "\n")


# ---- optimisers ----
# sgd, nesterov momentum and adagrad are PyTorch's own (with DL4J's adagrad epsilon and initial
# accumulator they compute the runtime's formulas exactly). Adam and RMSProp differ from
# PyTorch's where DL4J does: adam adds epsilon to sqrt(v) and folds both bias corrections into
# the step size, rmsprop starts its average at epsilon; for tiny gradients those differences
# are large, so they are written out here with the runtime's (DL4J's) formulas.

class Dl4jAdam(torch.optim.Optimizer):
    """m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    w -= lr sqrt(1-b2^t)/(1-b1^t) m / (sqrt(v) + eps) + lr wd w   (wd: decoupled, adamw)."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                st = self.state[p]
                if not st:
                    st["t"] = 0
                    st["m"] = torch.zeros_like(p)
                    st["v"] = torch.zeros_like(p)
                st["t"] += 1
                t = st["t"]
                g = p.grad
                st["m"].mul_(b1).add_((1 - b1) * g)
                st["v"].mul_(b2).add_((1 - b2) * g * g)
                alpha = group["lr"] * (1 - b2 ** t) ** 0.5 / (1 - b1 ** t)
                upd = alpha * st["m"] / (st["v"].sqrt() + group["eps"])
                upd = upd + group["lr"] * group["weight_decay"] * p
                p.sub_(upd)


class Dl4jRmsProp(torch.optim.Optimizer):
    """s starts at eps; s = d s + (1-d) g^2; w -= lr g / (sqrt(s) + eps)."""

    def __init__(self, params, lr, decay, eps):
        super().__init__(params, dict(lr=lr, decay=decay, eps=eps))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            d = group["decay"]
            for p in group["params"]:
                st = self.state[p]
                if not st:
                    st["s"] = torch.full_like(p, group["eps"])
                g = p.grad
                st["s"].mul_(d).add_((1 - d) * g * g)
                p.sub_(group["lr"] * g / (st["s"].sqrt() + group["eps"]))


def make_opt(kind, weights, biases):
    params = [{"params": weights}, {"params": biases}]
    if kind == "sgd":
        return torch.optim.SGD(params, lr=0.1)
    if kind == "nesterovs":
        return torch.optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True)
    if kind == "adam":
        return Dl4jAdam(params, lr=0.01)
    if kind == "adamw":
        return Dl4jAdam(params, lr=0.01, weight_decay=0.05)
    if kind == "rmsprop":
        return Dl4jRmsProp(params, lr=0.01, decay=0.95, eps=1e-8)
    if kind == "adagrad":
        return torch.optim.Adagrad(params, lr=0.1, eps=1e-6, initial_accumulator_value=1e-6)
    if kind == "sgd_l2":
        # l2 on weights only (the runtime leaves biases alone unless l2_bias is set)
        return torch.optim.SGD([{"params": weights, "weight_decay": 0.01},
                                {"params": biases}], lr=0.1)
    if kind == "sgd_clip":
        return torch.optim.SGD(params, lr=0.1)
    raise ValueError(kind)


# ---- dense 6-16-3: dense(relu) + output(softmax, mcxent) ----

def dense_case(f):
    g = torch.Generator().manual_seed(7)
    fc1 = torch.nn.Linear(6, 16)
    out = torch.nn.Linear(16, 3)
    init = [p.detach().clone() for p in (fc1.weight, fc1.bias, out.weight, out.bias)]
    B = 10
    x = torch.randn(STEPS, B, 6, generator=g)
    cls = torch.randint(0, 3, (STEPS, B), generator=g)
    y = torch.nn.functional.one_hot(cls, 3).float()
    write(f, "fc1.W", init[0].T)
    write(f, "fc1.b", init[1])
    write(f, "out.W", init[2].T)
    write(f, "out.b", init[3])
    write(f, "x", x)
    write(f, "y", y)
    for kind in ("sgd", "nesterovs", "adam", "adamw", "rmsprop", "adagrad", "sgd_l2", "sgd_clip"):
        with torch.no_grad():
            fc1.weight.copy_(init[0]); fc1.bias.copy_(init[1])
            out.weight.copy_(init[2]); out.bias.copy_(init[3])
        opt = make_opt(kind, [fc1.weight, out.weight], [fc1.bias, out.bias])
        for s in range(STEPS):
            opt.zero_grad()
            logits = out(torch.relu(fc1(x[s])))
            loss = torch.nn.functional.cross_entropy(logits, cls[s])
            loss.backward()
            if kind == "sgd_clip":
                torch.nn.utils.clip_grad_value_(list(fc1.parameters()) + list(out.parameters()), 0.05)
            opt.step()
        write(f, kind + ".fc1.W", fc1.weight.detach().T)
        write(f, kind + ".fc1.b", fc1.bias.detach())
        write(f, kind + ".out.W", out.weight.detach().T)
        write(f, kind + ".out.b", out.bias.detach())


# ---- lstm(4 -> 8) + rnn_output(3, softmax, mcxent), time-major [T, B, F] ----

def to_ours(w, n):
    """PyTorch gate rows [i|f|g|o] (4n, k) -> our columns [a=g|f|o|i] (k, 4n)."""
    i, f_, g_, o = w[0:n], w[n:2 * n], w[2 * n:3 * n], w[3 * n:4 * n]
    return torch.cat([g_, f_, o, i], 0).T


class Lstm(torch.nn.Module):
    """One LSTM layer with a single bias vector (as the runtime's b), gates [i|f|g|o]."""

    def __init__(self, n_in, n):
        super().__init__()
        ref = torch.nn.LSTMCell(n_in, n)
        self.n = n
        self.w_ih = torch.nn.Parameter(ref.weight_ih.detach().clone())
        self.w_hh = torch.nn.Parameter(ref.weight_hh.detach().clone())
        self.b = torch.nn.Parameter((ref.bias_ih + ref.bias_hh).detach().clone())

    def step(self, x, h, c):
        z = x @ self.w_ih.T + h @ self.w_hh.T + self.b
        i, f, g, o = z.chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


def lstm_forward(cell, lin, x, mask, h, c):
    """Masked steps output zero and carry h and c through unchanged."""
    outs = []
    for t in range(x.shape[0]):
        hn, cn = cell.step(x[t], h, c)
        m = mask[t].unsqueeze(1)
        h = m * hn + (1 - m) * h
        c = m * cn + (1 - m) * c
        outs.append(m * hn)
    return lin(torch.stack(outs)), h, c


def seq_loss(logits, cls, lmask, B):
    """rnn_output's mcxent: summed over valid steps, divided by the batch size."""
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), cls.reshape(-1),
                                           reduction="none")
    return (ce * lmask.reshape(-1)).sum() / B


def lstm_case(f):
    g = torch.Generator().manual_seed(11)
    n, T, B = 8, 6, 5
    cell = Lstm(4, n)
    lin = torch.nn.Linear(n, 3)
    init = [p.detach().clone() for p in (cell.w_ih, cell.w_hh, cell.b, lin.weight, lin.bias)]
    x = torch.randn(STEPS, T, B, 4, generator=g)
    cls = torch.randint(0, 3, (STEPS, T, B), generator=g)
    y = torch.nn.functional.one_hot(cls, 3).float()
    # variable lengths for the masked case: sequence b has length T - (b % 3)
    mask = torch.ones(T, B)
    for b in range(B):
        if b % 3:
            mask[T - (b % 3):, b] = 0
    write(f, "lstm.W", to_ours(init[0], n))
    write(f, "lstm.RW", to_ours(init[1], n))
    write(f, "lstm.b", to_ours(init[2].unsqueeze(1), n).reshape(-1))
    write(f, "out.W", init[3].T)
    write(f, "out.b", init[4])
    write(f, "x", x)
    write(f, "y", y)
    write(f, "mask", mask)
    cases = [("sgd", "sgd", False, 0), ("adam", "adam", False, 0), ("masked", "sgd", True, 0),
             ("tbptt", "sgd", False, 2)]
    for name, kind, masked, seg in cases:
        with torch.no_grad():
            for p, v in zip((cell.w_ih, cell.w_hh, cell.b, lin.weight, lin.bias), init):
                p.copy_(v)
        opt = make_opt(kind, [cell.w_ih, cell.w_hh, lin.weight], [cell.b, lin.bias])
        m = mask if masked else torch.ones(T, B)
        for s in range(STEPS):
            h = torch.zeros(B, n)
            c = torch.zeros(B, n)
            L = seg if seg else T
            for t0 in range(0, T, L):
                opt.zero_grad()
                logits, h, c = lstm_forward(cell, lin, x[s, t0:t0 + L], m[t0:t0 + L], h, c)
                loss = seq_loss(logits, cls[s, t0:t0 + L], m[t0:t0 + L], B)
                loss.backward()
                opt.step()
                h = h.detach()
                c = c.detach()
        write(f, name + ".lstm.W", to_ours(cell.w_ih.detach(), n))
        write(f, name + ".lstm.RW", to_ours(cell.w_hh.detach(), n))
        write(f, name + ".lstm.b", to_ours(cell.b.detach().unsqueeze(1), n).reshape(-1))
        write(f, name + ".out.W", lin.weight.detach().T)
        write(f, name + ".out.b", lin.bias.detach())


def main():
    torch.manual_seed(1234)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "dense.txt"), "w") as f:
        dense_case(f)
    with open(os.path.join(OUT, "lstm.txt"), "w") as f:
        lstm_case(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
