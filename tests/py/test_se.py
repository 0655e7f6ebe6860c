"""Squeeze-and-excitation (torchvision.ops.SqueezeExcitation: 1x1 convolutions fc1/fc2, ReLU or SiLU,
sigmoid gate) against the same block in PyTorch: output and every gradient to 1e-4 relative, and a
finite-difference check of the C gradients (float64 central differences of the torch block, which the C
forward matches)."""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print(f"skip squeeze-and-excitation parity: {e}")
    sys.exit(0)

DRIVERS = os.environ.get("DRIVERS", "build/tests/drivers")
failures = 0
torch.manual_seed(1)


def ref(x, w1, b1, w2, b2, silu):
    p = x.mean((2, 3), keepdim=True)
    h = F.conv2d(p, w1[:, :, None, None], b1)
    a = F.silu(h) if silu else F.relu(h)
    return x * torch.sigmoid(F.conv2d(a, w2[:, :, None, None], b2))


for silu in (0, 1):
    N, C, H, W, R = 3, 16, 5, 7, 4
    x = torch.randn(N, C, H, W, requires_grad=True)
    w1 = (torch.randn(R, C) * 0.5).requires_grad_()
    b1 = (torch.randn(R) * 0.1).requires_grad_()
    w2 = (torch.randn(C, R) * 0.5).requires_grad_()
    b2 = (torch.randn(C) * 0.1).requires_grad_()
    dy = torch.randn(N, C, H, W)
    y = ref(x, w1, b1, w2, b2, silu)
    y.backward(dy)
    tmp = tempfile.mkdtemp()
    for n, v in (("x", x), ("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2), ("dy", dy)):
        np.save(os.path.join(tmp, f"{n}.npy"), v.detach().numpy())
    subprocess.run([os.path.join(DRIVERS, "se"), tmp, str(silu)], check=True)
    for n, t in (("y", y), ("dx", x.grad), ("dw1", w1.grad), ("db1", b1.grad), ("dw2", w2.grad), ("db2", b2.grad)):
        c = np.load(os.path.join(tmp, f"c.{n}.npy"))
        t = t.detach().numpy()
        err = float(np.abs(c - t).max() / np.abs(t).max())
        ok = err <= 1e-4
        print(("ok " if ok else "not ok ") + f"SE ({'SiLU' if silu else 'ReLU'}) {n} vs torch (rel err {err:.1e})")
        failures += 0 if ok else 1
    # finite differences of the float64 block for a few parameters, against the C gradients
    xd, w1d, b1d, w2d, b2d = (v.detach().double() for v in (x, w1, b1, w2, b2))
    dyd = dy.double()
    c_dw1 = np.load(os.path.join(tmp, "c.dw1.npy"))
    worst = 0.0
    for (i, j) in ((0, 0), (1, 3), (3, 15)):
        e = 1e-6
        wp, wm = w1d.clone(), w1d.clone()
        wp[i, j] += e
        wm[i, j] -= e
        fd = float(((ref(xd, wp, b1d, w2d, b2d, silu) - ref(xd, wm, b1d, w2d, b2d, silu)) * dyd).sum() / (2 * e))
        worst = max(worst, abs(fd - c_dw1[i, j]) / max(abs(fd), 1e-3))
    ok = worst <= 1e-3
    print(("ok " if ok else "not ok ") + f"SE ({'SiLU' if silu else 'ReLU'}) finite differences of fc1.weight (rel err {worst:.1e})")
    failures += 0 if ok else 1
sys.exit(1 if failures else 0)
