"""bench/gpu's PyTorch side: training and inference samples/s of one torchvision model (or the baseline) on
the GPU, input 1x128x400, batch 64, cuDNN benchmark mode, and the peak GPU memory. Precisions: fp32 (true
fp32: TF32 off for convolutions and matrix products, as ours without --tf32), tf32 (PyTorch's defaults:
cudnn.allow_tf32 on, matmul's off, as ours with --tf32), bf16 (autocast) or fp16 (autocast with GradScaler).
Prints one line: "samples_per_s peak_mib torch_version".
Usage: peer.py ARCH train|infer fp32|tf32|bf16|fp16 [STEPS]"""
import sys
import time

import torch
import torch.nn as nn
import torchvision


def baseline(k):
    layers, c = [], 1
    for w in (16, 32, 64, 128):
        layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        c = w
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 64), nn.ReLU(inplace=True),
                         nn.Dropout(0.3), nn.Linear(64, k))


def model(arch, k=10):
    if arch == "baseline":
        return baseline(k)
    m = getattr(torchvision.models, arch)(num_classes=k)
    # one input channel, as cnntrain's native stem
    if arch.startswith("resnet"):
        m.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    else:
        old = m.features[0][0]
        m.features[0][0] = nn.Conv2d(1, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False)
    return m


def main():
    arch, mode, prec = sys.argv[1:4]
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = prec != "fp32"  # PyTorch's default is on: the tf32 lines
    torch.backends.cuda.matmul.allow_tf32 = False  # PyTorch's default
    dev = torch.device("cuda")
    m = model(arch).to(dev)
    x = torch.randn(64, 1, 128, 400, device=dev)
    y = torch.randint(0, 10, (64,), device=dev)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(prec)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    scaler = torch.cuda.amp.GradScaler(enabled=prec == "fp16")
    loss_fn = nn.CrossEntropyLoss()

    def step():
        with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
            if mode == "train":
                loss = loss_fn(m(x), y)
            else:
                with torch.no_grad():
                    m(x)
                return
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    m.train(mode == "train")
    for _ in range(5):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    print(f"{64 * steps / dt:.1f} {torch.cuda.max_memory_allocated() / 2**20:.0f} {torch.__version__}")


if __name__ == "__main__":
    main()
