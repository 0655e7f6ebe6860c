#!/usr/bin/env python3
"""conv2d, linear and pooling (lib/nn/conv2d.c, linear.c, pool.c) against PyTorch.

For each configuration, PyTorch makes the fixtures (inputs, weights, upstream gradient) as .npy in a
temporary directory and computes the output and every gradient in float32 and, on the same values, in
float64; the C driver ($DRIVERS/nn_dense) runs forward + backward on the fixtures and writes its
results. Tolerance: max |C - torch32| / max |torch32| <= 1e-4 per tensor (the max-pool argmax must be
identical). Each line also shows the C error and torch's own float32 error against float64.

Prints "ok NAME" / "not ok NAME: why" / "skip NAME: why" lines and exits 1 if a check failed.
Environment: DRIVERS (the directory holding nn_dense)."""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print(f"skip nn_dense parity: {e}")
    sys.exit(0)

DRIVERS = os.environ.get("DRIVERS", "build/tests/drivers")
DRIVER = os.path.join(DRIVERS, "nn_dense")
TOL = 1e-4
failures = 0
rng = np.random.default_rng(20240611)
torch.set_num_threads(1)

if not os.access(DRIVER, os.X_OK):
    print(f"not ok nn_dense parity: no driver at {DRIVER} (set DRIVERS)")
    sys.exit(1)


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    m = np.max(np.abs(b)) if b.size else 0.0
    d = np.max(np.abs(a - b)) if b.size else 0.0
    return float(d / m) if m > 0 else float(d)


def report(name, err, ref_err):
    global failures
    line = f"{name}: max rel err {err:.2e} (torch float32 vs float64: {ref_err:.2e}, tol {TOL:g})"
    if err <= TOL:
        print("ok " + line)
    else:
        failures += 1
        print("not ok " + line)


def run_driver(name, op, d, opts):
    r = subprocess.run([DRIVER, op, d, *opts], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{name}: nn_dense {op} {' '.join(opts)} exited {r.returncode}: {r.stderr.strip()}")


def torch_grads(fn, inputs, dy, dtype):
    """fn(*tensors) -> y; returns y and the gradient of every input (None when not required)."""
    ts = [None if a is None else torch.tensor(a, dtype=dtype, requires_grad=True) for a in inputs]
    y = fn(*ts)
    y.backward(torch.tensor(dy, dtype=dtype))
    return y.detach().numpy(), [None if t is None else t.grad.numpy() for t in ts]


def compare(name, d, names, y32, y64, g32, g64, skip=()):
    outs = {"y": (y32, y64)}
    for n, a32, a64 in zip(names, g32, g64):
        if a32 is not None and n not in skip:
            outs["d" + n] = (a32, a64)
    for n, (a32, a64) in outs.items():
        ours = np.load(os.path.join(d, n + ".npy"))
        report(f"{name} {n}", rel(ours, a32), rel(a32, a64))


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def conv_case(name, N, C, H, W, K, kh, kw, stride=(1, 1), pad=(0, 0), dil=(1, 1), groups=1, bias=True,
              threads=1, algo="auto", accumulate=False, nodx=False):
    with tempfile.TemporaryDirectory() as d:
        fan_in = C // groups * kh * kw
        x = randn(N, C, H, W)
        w = (randn(K, C // groups, kh, kw) / np.sqrt(fan_in)).astype(np.float32)
        b = randn(K) if bias else None
        y_shape = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), None, stride, pad, dil, groups).shape
        dy = randn(*y_shape)
        fn = lambda x_, w_, b_: F.conv2d(x_, w_, b_, stride, pad, dil, groups)
        y32, g32 = torch_grads(fn, [x, w, b], dy, torch.float32)
        y64, g64 = torch_grads(fn, [x, w, b], dy, torch.float64)
        for n, a in (("x", x), ("w", w), ("b", b), ("dy", dy)):
            if a is not None:
                np.save(os.path.join(d, n + ".npy"), a)
        if accumulate:  # backward must add into existing gradient buffers
            dw0, db0 = randn(*w.shape), randn(K)
            np.save(os.path.join(d, "dw0.npy"), dw0)
            np.save(os.path.join(d, "db0.npy"), db0)
            g32[1] = g32[1] + dw0
            g64[1] = g64[1] + dw0.astype(np.float64)
            if bias:
                g32[2] = g32[2] + db0
                g64[2] = g64[2] + db0.astype(np.float64)
        opts = [f"stride={stride[0]},{stride[1]}", f"pad={pad[0]},{pad[1]}", f"dil={dil[0]},{dil[1]}",
                f"threads={threads}", f"algo={algo}"] + (["nodx=1"] if nodx else [])
        run_driver(f"conv2d {name}", "conv2d", d, opts)
        compare(f"conv2d {name}", d, ["x", "w", "b"], y32, y64, g32, g64, skip=("x",) if nodx else ())


def linear_case(name, N, n_in, n_out, bias=True, threads=1, accumulate=False):
    with tempfile.TemporaryDirectory() as d:
        x, w = randn(N, n_in), (randn(n_out, n_in) / np.sqrt(n_in)).astype(np.float32)
        b = randn(n_out) if bias else None
        dy = randn(N, n_out)
        y32, g32 = torch_grads(F.linear, [x, w, b], dy, torch.float32)
        y64, g64 = torch_grads(F.linear, [x, w, b], dy, torch.float64)
        for n, a in (("x", x), ("w", w), ("b", b), ("dy", dy)):
            if a is not None:
                np.save(os.path.join(d, n + ".npy"), a)
        if accumulate:
            dw0, db0 = randn(*w.shape), randn(n_out)
            np.save(os.path.join(d, "dw0.npy"), dw0)
            np.save(os.path.join(d, "db0.npy"), db0)
            g32[1], g64[1] = g32[1] + dw0, g64[1] + dw0.astype(np.float64)
            if bias:
                g32[2], g64[2] = g32[2] + db0, g64[2] + db0.astype(np.float64)
        run_driver(f"linear {name}", "linear", d, [f"threads={threads}"])
        compare(f"linear {name}", d, ["x", "w", "b"], y32, y64, g32, g64)


def pool_case(name, op, N, C, H, W, kernel=(2, 2), stride=None, pad=(0, 0), count_include_pad=True, threads=1):
    global failures
    with tempfile.TemporaryDirectory() as d:
        x = randn(N, C, H, W)  # continuous random values: no ties in max-pool windows
        if op == "maxpool2d":
            fn = lambda x_: F.max_pool2d(x_, kernel, stride, pad)
        elif op == "avgpool2d":
            fn = lambda x_: F.avg_pool2d(x_, kernel, stride, pad, count_include_pad=count_include_pad)
        else:
            fn = lambda x_: F.adaptive_avg_pool2d(x_, 1).flatten(1)
        dy = randn(*fn(torch.from_numpy(x)).shape)
        y32, g32 = torch_grads(fn, [x], dy, torch.float32)
        y64, g64 = torch_grads(fn, [x], dy, torch.float64)
        np.save(os.path.join(d, "x.npy"), x)
        np.save(os.path.join(d, "dy.npy"), dy)
        opts = [f"kernel={kernel[0]},{kernel[1]}", f"pad={pad[0]},{pad[1]}", f"threads={threads}",
                f"exclude_pad={0 if count_include_pad else 1}"]
        if stride is not None:
            opts.append(f"stride={stride[0]},{stride[1]}")
        run_driver(f"{op} {name}", op, d, opts)
        compare(f"{op} {name}", d, ["x"], y32, y64, g32, g64)
        if op == "maxpool2d":
            _, idx = F.max_pool2d(torch.from_numpy(x), kernel, stride, pad, return_indices=True)
            ours = np.load(os.path.join(d, "idx.npy"))
            same = np.array_equal(ours, idx.numpy())
            print(("ok " if same else "not ok ") + f"{op} {name} argmax indices identical to torch's return_indices")
            failures += 0 if same else 1


def main():
    cases = [
        lambda: conv_case("3x3 pad1", 4, 3, 16, 20, 8, 3, 3, pad=(1, 1)),
        lambda: conv_case("3x3 pad1 threads2", 4, 3, 16, 20, 8, 3, 3, pad=(1, 1), threads=2),
        lambda: conv_case("3x3 stride2 pad1", 4, 6, 17, 20, 8, 3, 3, stride=(2, 2), pad=(1, 1)),
        lambda: conv_case("3x3 dilation2 pad2", 3, 4, 15, 18, 5, 3, 3, pad=(2, 2), dil=(2, 2)),
        lambda: conv_case("3x3 groups2", 3, 8, 12, 14, 6, 3, 3, pad=(1, 1), groups=2),
        lambda: conv_case("depthwise 3x3 (direct)", 3, 8, 12, 14, 8, 3, 3, pad=(1, 1), groups=8),
        lambda: conv_case("depthwise 3x3 (gemm)", 3, 8, 12, 14, 8, 3, 3, pad=(1, 1), groups=8, algo="gemm"),
        lambda: conv_case("depthwise x2 5x5 stride2 pad2", 2, 4, 15, 17, 8, 5, 5, stride=(2, 2), pad=(2, 2), groups=4),
        lambda: conv_case("1x1", 3, 16, 9, 11, 24, 1, 1),
        lambda: conv_case("1x1 stride2 no bias", 3, 16, 9, 11, 24, 1, 1, stride=(2, 2), bias=False),
        lambda: conv_case("3x3 no bias", 3, 5, 10, 12, 7, 3, 3, pad=(1, 1), bias=False),
        lambda: conv_case("3x5 stride(2,1) pad(1,2) dil(1,2)", 2, 4, 13, 21, 6, 3, 5, stride=(2, 1), pad=(1, 2),
                          dil=(1, 2)),
        lambda: conv_case("7x7 stride2 pad3 (stem)", 2, 3, 40, 44, 16, 7, 7, stride=(2, 2), pad=(3, 3)),
        lambda: conv_case("1->16 3x3 pad1 spectrogram (direct)", 4, 1, 64, 100, 16, 3, 3, pad=(1, 1), threads=2,
                          nodx=True),
        lambda: conv_case("1->16 3x3 pad1 spectrogram (gemm)", 4, 1, 64, 100, 16, 3, 3, pad=(1, 1), algo="gemm"),
        lambda: conv_case("16->32 3x3 pad1 on 64x200 threads2", 2, 16, 64, 200, 32, 3, 3, pad=(1, 1), threads=2),
        lambda: conv_case("64->128 3x3 pad1 on 16x50, += into dw0/db0", 4, 64, 16, 50, 128, 3, 3, pad=(1, 1),
                          accumulate=True),
        # Winograd F(4x4,3x3) (lib/nn/winograd.c): forced on a small odd shape, and AUTO's pick on ResNet-18's
        # layers (1x128x400 input) with 2 threads
        lambda: conv_case("3->5 3x3 pad1 odd 7x13 (winograd)", 3, 3, 7, 13, 5, 3, 3, pad=(1, 1), algo="winograd"),
        lambda: conv_case("64->64 3x3 pad1 on 32x100 (winograd) threads2", 2, 64, 32, 100, 64, 3, 3, pad=(1, 1),
                          bias=False, threads=2, algo="winograd"),
        lambda: conv_case("256->256 3x3 pad1 on 8x25 (auto)", 2, 256, 8, 25, 256, 3, 3, pad=(1, 1), bias=False),
        lambda: conv_case("512->512 3x3 pad1 on 4x13 (auto) threads2", 2, 512, 4, 13, 512, 3, 3, pad=(1, 1),
                          bias=False, threads=2),
        lambda: linear_case("32x128->10", 32, 128, 10),
        lambda: linear_case("100x300->70 no bias threads2", 100, 300, 70, bias=False, threads=2),
        lambda: linear_case("7x5->3, += into dw0/db0", 7, 5, 3, accumulate=True),
        lambda: pool_case("2x2", "maxpool2d", 4, 8, 32, 50),
        lambda: pool_case("2x2 odd input threads2", "maxpool2d", 3, 4, 15, 21, threads=2),
        lambda: pool_case("3x3 stride2 pad1", "maxpool2d", 3, 4, 17, 16, kernel=(3, 3), stride=(2, 2), pad=(1, 1)),
        lambda: pool_case("3x3 stride2 pad1 wide (4-window SSE path)", "maxpool2d", 2, 3, 9, 45, kernel=(3, 3),
                          stride=(2, 2), pad=(1, 1)),
        lambda: pool_case("3x2 stride(1,2) no pad wide", "maxpool2d", 2, 3, 8, 38, kernel=(3, 2), stride=(1, 2)),
        lambda: pool_case("2x2", "avgpool2d", 4, 8, 32, 50),
        lambda: pool_case("3x3 stride2 pad1", "avgpool2d", 3, 4, 17, 16, kernel=(3, 3), stride=(2, 2), pad=(1, 1)),
        lambda: pool_case("3x3 stride2 pad1 count_include_pad=False", "avgpool2d", 3, 4, 17, 16, kernel=(3, 3),
                          stride=(2, 2), pad=(1, 1), count_include_pad=False),
        lambda: pool_case("(adaptive 1x1)", "gap", 4, 128, 8, 25, threads=2),
    ]
    global failures
    for c in cases:
        try:
            c()
        except Exception as e:  # one broken case does not hide the others
            failures += 1
            print(f"not ok {e}")
    return 1 if failures else 0


sys.exit(main())
