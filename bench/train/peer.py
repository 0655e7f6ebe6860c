"""PyTorch peer for bench/train: the same baseline CNN (tests/ref/baseline.py), AdamW, cross-entropy,
batch 32 of 1x128x400, on THREADS intra-op threads. Prints "<samples/s> <peak RSS MiB> <torch version>"."""
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
import torch
from tests.ref.baseline import BaselineCNN

threads, steps = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = BaselineCNN(10)
opt = torch.optim.AdamW(model.parameters())
x = torch.randn(32, 1, 128, 400)
y = torch.randint(0, 10, (32,))
model.train()


def step():
    opt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()


for _ in range(2):  # warm-up
    step()
t0 = time.perf_counter()
for _ in range(steps):
    step()
dt = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{32 * steps / dt:.2f} {rss:.0f} {torch.__version__}")
