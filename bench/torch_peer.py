#!/usr/bin/python3
"""torch_peer.py: the same benchmark models in PyTorch (the peer): inference under no_grad and
a training step (SGD), printed as NAME ms peak_rss_mb cpu_ms (ms: the fastest repetition;
cpu_ms: the least process CPU time of one). Usage: torch_peer.py lstm|mlp|cnn|vgg11 [THREADS]
(one model a process, so the peak memory is the model's own; vgg11 is the inference of VGG11's
convolutional body at 3x224x224, batch 1 and 8; THREADS, default 2, for torch.set_num_threads)."""
import resource
import sys
import time

import torch

torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
torch.manual_seed(0)


def timed(fn, reps):
    """The least wall and the least CPU time of reps calls of fn, in ms, after two untimed."""
    for _ in range(2):
        fn()
    out, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return min(out), min(cpu)


class LstmModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(32, 256)
        self.out = torch.nn.Linear(256, 10)

    def forward(self, x):
        h, _ = self.lstm(x)
        return self.out(h)


def bench(name, model, x, y, reps):
    with torch.no_grad():
        inf = timed(lambda: model(x), reps)
    if y is None:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{name}_inference {inf[0]:.3f} {rss:.0f} {inf[1]:.3f}")
        return
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        out = model(x)
        loss = loss_fn(out.reshape(-1, 10), y.reshape(-1))
        loss.backward()
        opt.step()

    tr = timed(step, reps)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{name}_inference {inf[0]:.3f} {rss:.0f} {inf[1]:.3f}")
    print(f"{name}_train_step {tr[0]:.3f} {rss:.0f} {tr[1]:.3f}")


if sys.argv[1:2] == ["lstm"]:
    bench("lstm", LstmModel(), torch.randn(50, 64, 32), torch.randint(0, 10, (50, 64)), 15)
elif sys.argv[1:2] == ["mlp"]:
    mlp = torch.nn.Sequential(torch.nn.Linear(784, 1024), torch.nn.ReLU(),
                              torch.nn.Linear(1024, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 10))
    bench("mlp", mlp, torch.randn(128, 784), torch.randint(0, 10, (128,)), 31)
elif sys.argv[1:2] == ["cnn"]:
    cnn = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Flatten(), torch.nn.Linear(64 * 8 * 8, 10))
    bench("cnn", cnn, torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,)), 15)
elif sys.argv[1:2] == ["vgg11"]:
    layers, c = [], 3
    for v in [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]:
        if v == "M":
            layers.append(torch.nn.MaxPool2d(2))
        else:
            layers += [torch.nn.Conv2d(c, v, 3, padding=1), torch.nn.ReLU()]
            c = v
    body = torch.nn.Sequential(*layers)
    bench("vgg11_b1", body, torch.randn(1, 3, 224, 224), None, 5)
    bench("vgg11_b8", body, torch.randn(8, 3, 224, 224), None, 3)
else:
    sys.exit("usage: torch_peer.py lstm|mlp|cnn|vgg11 [THREADS]")
