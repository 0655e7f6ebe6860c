#!/usr/bin/env python3
"""bench/conv: lib/nn/conv2d.c against torch.nn.functional.conv2d on the baseline CNN's convolutions.

Input batch N=32 of 1x128x400 spectrograms; conv3x3 (padding 1, no bias) 1->16 on 128x400, 16->32 on
64x200, 32->64 on 32x100, 64->128 on 16x50 (each block halves H and W with a 2x2 max-pool). Forward,
and backward with dw and dx (without dx for the first layer, whose input needs no gradient, as in
training). Best (minimum) of REPS runs after a warm-up (robust to other load on a shared machine), THREADS threads on both sides (ours: NnCtx threads;
torch: torch.set_num_threads). GFLOP/s counts 2*N*K*OH*OW*C*KH*KW per forward, twice that per backward
with dx, once without.

usage: DRIVERS=build/tests/drivers PY bench/conv/bench.py [THREADS [REPS]]"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

DRIVERS = os.environ.get("DRIVERS", "build/tests/drivers")
THREADS = int(sys.argv[1]) if len(sys.argv) > 1 else 2
REPS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
N = 32
LAYERS = [(1, 16, 128, 400), (16, 32, 64, 200), (32, 64, 32, 100), (64, 128, 16, 50)]

torch.set_num_threads(THREADS)
rng = np.random.default_rng(0)


def best_ms(fn):
    fn()
    ts = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return float(np.min(ts))


def torch_times(x, w, dy, need_dx):
    xt = torch.from_numpy(x).requires_grad_(need_dx)
    wt = torch.from_numpy(w).requires_grad_(True)
    dyt = torch.from_numpy(dy)

    def fwd():
        with torch.no_grad():
            F.conv2d(xt, wt, None, 1, 1)

    def bwd():  # forward with the graph, then backward alone timed
        y = F.conv2d(xt, wt, None, 1, 1)
        t0 = time.perf_counter()
        torch.autograd.grad(y, [xt, wt] if need_dx else [wt], dyt)
        return (time.perf_counter() - t0) * 1e3

    tf = best_ms(fwd)
    bwd()
    tb = float(np.min([bwd() for _ in range(REPS)]))
    return tf, tb


def main():
    print(f"bench/conv: baseline CNN convolutions, N={N}, 3x3 pad 1, no bias, {THREADS} threads, best of {REPS}")
    print(f"torch {torch.__version__} ({torch.backends.mkldnn.is_available() and 'mkldnn available' or 'no mkldnn'})")
    hdr = f"{'layer':<22} {'ours fwd ms':>11} {'torch fwd':>10} {'ours bwd ms':>11} {'torch bwd':>10} " \
          f"{'ours GF/s f/b':>14} {'torch GF/s f/b':>15}"
    print(hdr)
    tot = [0.0, 0.0, 0.0, 0.0]
    for i, (C, K, H, W) in enumerate(LAYERS):
        need_dx = i > 0
        x = rng.standard_normal((N, C, H, W)).astype(np.float32)
        w = (rng.standard_normal((K, C, 3, 3)) / np.sqrt(9 * C)).astype(np.float32)
        dy = rng.standard_normal((N, K, H, W)).astype(np.float32)
        with tempfile.TemporaryDirectory() as d:
            for n, a in (("x", x), ("w", w), ("dy", dy)):
                np.save(os.path.join(d, n + ".npy"), a)
            opts = [f"threads={THREADS}", "pad=1,1", f"reps={REPS}"] + ([] if need_dx else ["nodx=1"])
            out = subprocess.run([os.path.join(DRIVERS, "nn_dense"), "time-conv2d", d, *opts], check=True,
                                 capture_output=True, text=True).stdout.split()
            of, ob = float(out[1]), float(out[3])
        tf, tb = torch_times(x, w, dy, need_dx)
        flops = 2.0 * N * K * H * W * C * 9
        bflops = flops * (2 if need_dx else 1)
        name = f"{C}->{K} on {H}x{W}"
        print(f"{name:<22} {of:11.1f} {tf:10.1f} {ob:11.1f} {tb:10.1f} "
              f"{flops / of / 1e6:6.1f}/{bflops / ob / 1e6:<7.1f} {flops / tf / 1e6:7.1f}/{bflops / tb / 1e6:<7.1f}")
        for j, v in enumerate((of, tf, ob, tb)):
            tot[j] += v
    print(f"{'total':<22} {tot[0]:11.1f} {tot[1]:10.1f} {tot[2]:11.1f} {tot[3]:10.1f}")


main()
