#!/usr/bin/python3
# train_step_torch.py: PyTorch's median training-step time for the models bench/train_step.c
# measures (run with OPENBLAS_NUM_THREADS=1; torch uses 2 threads): prints "name ms" lines.
import statistics
import sys
import time

import torch

torch.set_num_threads(2)
torch.manual_seed(0)


def bench(name, model, x, y, loss_fn, reps):
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    times = []
    for i in range(reps + 3):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    print("%s %.2f" % (name, 1000 * statistics.median(times)))
    sys.stdout.flush()


class LstmNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(32, 256)
        self.out = torch.nn.Linear(256, 10)

    def forward(self, x):
        return self.out(self.lstm(x)[0])


def seq_ce(logits, y):
    return torch.nn.functional.cross_entropy(logits.reshape(-1, 10), y.reshape(-1),
                                             reduction="sum") / logits.shape[1]


def main():
    x = torch.randn(50, 64, 32)
    y = torch.randint(0, 10, (50, 64))
    bench("lstm_32_256_b64_t50", LstmNet(), x, y, seq_ce, 20)
    mlp = torch.nn.Sequential(torch.nn.Linear(784, 1024), torch.nn.ReLU(),
                              torch.nn.Linear(1024, 1024), torch.nn.ReLU(),
                              torch.nn.Linear(1024, 10))
    x = torch.randn(128, 784)
    y = torch.randint(0, 10, (128,))
    bench("mlp_784_1024_1024_10_b128", mlp, x, y, torch.nn.functional.cross_entropy, 50)


if __name__ == "__main__":
    main()
