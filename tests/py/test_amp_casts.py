"""AMP's casts (nn/kernels.h's kb_f32_to_f16 and kb_f32_to_bf16, which the GPU kernels, the CPU tests and
the simulated GPU share) against numpy's float16 and torch's bfloat16 conversions: random bit patterns
(every exponent, NaN, inf, subnormals), the neighbourhood of every fp16 and bf16 rounding midpoint, and
special values. NaN is compared as NaN-ness (payloads differ by library); float subnormals are kept by both
(as CUDA's __float2bfloat16_rn keeps them)."""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError as e:
    print(f"skip amp casts against numpy/torch: {e}")
    sys.exit(0)

DRIVERS = os.environ.get("DRIVERS", "build/tests/drivers")
rng = np.random.default_rng(16)
bits = [rng.integers(0, 2**32, 1_000_000, dtype=np.uint64).astype(np.uint32)]
# midpoints between neighbouring fp16 values (and one float either side); the same for bf16
h = np.arange(0, 0x7C00, dtype=np.uint16)
lo = h.view(np.float16).astype(np.float64)
hi = np.append(h[1:], np.uint16(0x7C00)).view(np.float16).astype(np.float64)
hi[-1] = 65536.0
mid = ((lo + hi) / 2).astype(np.float32).view(np.uint32)
b = np.arange(0, 0x7F80, dtype=np.uint32) << 16
bmid = (b + 0x8000).astype(np.uint32)
for m in (mid, bmid):
    for d in (-1, 0, 1):
        bits.append((m.astype(np.int64) + d).astype(np.uint32))
        bits.append(((m.astype(np.int64) + d) | 0x80000000).astype(np.uint32))
special = np.array([0.0, -0.0, 1.0, 65504.0, 65519.996, 65520.0, 1e10, -1e10, np.inf, -np.inf, np.nan,
                    2**-14, 2**-24, 2**-25, 3 * 2**-25, 3.4028235e38, 1.1754944e-38, 1e-45], dtype=np.float32)
bits.append(special.view(np.uint32))
x = np.concatenate(bits).view(np.float32)

tmp = tempfile.mkdtemp()
inp, out = os.path.join(tmp, "in.f32"), os.path.join(tmp, "out.u16")
x.astype("<f4").tofile(inp)
subprocess.run([os.path.join(DRIVERS, "amp_casts"), inp, out], check=True)
got = np.fromfile(out, dtype="<u2").reshape(-1, 2)

nan = np.isnan(x)
with np.errstate(over="ignore"):
    want16 = x.astype(np.float16).view(np.uint16)
got16 = got[:, 0]
bad16 = int(np.sum((want16 != got16) & ~nan) + np.sum(nan & ~np.isnan(got16.view(np.float16))))
print(("ok" if bad16 == 0 else "not ok") +
      f" amp casts: float -> fp16 of {x.size} floats = numpy's float16 ({bad16} differ)")

notnan = ~nan
wantbf = torch.from_numpy(x.copy()).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
gotbf = got[:, 1]
gotbf_nan = np.isnan((gotbf.astype(np.uint32) << 16).view(np.float32))
badbf = int(np.sum((wantbf != gotbf) & notnan) + np.sum(nan & ~gotbf_nan))
print(("ok" if badbf == 0 else "not ok") +
      f" amp casts: float -> bf16 of {x.size} floats (subnormals included) = torch's bfloat16, NaN stays NaN ({badbf} differ)")
sys.exit(1 if bad16 or badbf else 0)
