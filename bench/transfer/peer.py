"""PyTorch peer for bench/transfer: a torchvision model (weights=None, 10 classes), the one-channel
spectrogram repeated to three channels (the notebooks' way), AdamW + cross-entropy for training, eval
mode under torch.inference_mode() for inference, THREADS intra-op threads.
usage: peer.py ARCH train|infer BATCH STEPS THREADS [F T] -> "<samples/s> <peak RSS MiB> <torch version>";
peer.py ARCH flops [F T] -> forward GFLOP per sample (2 x multiply-adds of every conv and linear layer)."""
import resource
import sys
import time

import torch
import torchvision

arch, mode = sys.argv[1], sys.argv[2]
if mode == "flops":
    f, t = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else (128, 400)
    m = getattr(torchvision.models, arch)(weights=None, num_classes=10).eval()
    total = [0]

    def hook(mod, inp, out):
        if isinstance(mod, torch.nn.Conv2d):
            total[0] += 2 * out.numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
        elif isinstance(mod, torch.nn.Linear):
            total[0] += 2 * mod.in_features * mod.out_features

    for mod in m.modules():
        mod.register_forward_hook(hook)
    with torch.no_grad():
        m(torch.zeros(1, 3, f, t))
    print(f"{total[0] / 1e9:.4f}")
    sys.exit(0)
n, steps, threads = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
f, t = (int(sys.argv[6]), int(sys.argv[7])) if len(sys.argv) > 7 else (128, 400)
torch.set_num_threads(threads)
torch.manual_seed(0)
m = getattr(torchvision.models, arch)(weights=None, num_classes=10)
x = torch.randn(n, 1, f, t)
y = torch.randint(0, 10, (n,))
opt = torch.optim.AdamW(m.parameters())


def step():
    if mode == "train":
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(m(x.repeat(1, 3, 1, 1)), y).backward()
        opt.step()
    else:
        with torch.inference_mode():
            m(x.repeat(1, 3, 1, 1))


m.train() if mode == "train" else m.eval()
for _ in range(2):
    step()
t0 = time.perf_counter()
for _ in range(steps):
    step()
dt = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{n * steps / dt:.2f} {rss:.0f} {torch.__version__}")
