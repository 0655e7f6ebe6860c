"""SpecAugment masks against torchaudio's FrequencyMasking / TimeMasking (iid_masks=True).

torch.rand is replaced by a function returning the uniforms we also give the C code, so both draw the
same masks and the outputs must be equal exactly."""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torchaudio
except ImportError as e:
    print(f"skip specaugment parity: {e}")
    sys.exit(0)

DRIVERS = os.environ.get("DRIVERS", "build/tests/drivers")
failures = 0
rng = np.random.default_rng(3)
tmp = tempfile.mkdtemp()


def run(kind, mask_param, p, shape):
    global failures
    x = rng.standard_normal(shape).astype(np.float32)
    u = [rng.random(shape[:2]).astype(np.float32) for _ in range(2)]
    # include extreme uniforms: 0 and just below 1
    u[0].flat[0], u[1].flat[0] = 0.0, 0.999999
    draws = iter([torch.from_numpy(u[0].copy()), torch.from_numpy(u[1].copy())])
    real_rand = torch.rand
    torch.rand = lambda *a, **k: next(draws)
    try:
        tr = (torchaudio.transforms.FrequencyMasking(mask_param, iid_masks=True) if kind == "freq"
              else torchaudio.transforms.TimeMasking(mask_param, iid_masks=True, p=p))
        ref = tr(torch.from_numpy(x.copy())).numpy()
    finally:
        torch.rand = real_rand
    paths = [os.path.join(tmp, n) for n in ("x.npy", "u1.npy", "u2.npy", "out.npy")]
    for pth, arr in zip(paths, [x] + u):
        np.save(pth, arr)
    axis = "0" if kind == "freq" else "1"
    subprocess.run([os.path.join(DRIVERS, "specaugment"), *paths[:3], axis, str(mask_param), str(p), paths[3]], check=True)
    ours = np.load(paths[3])
    masked = int((ref == 0).sum())
    ok = np.array_equal(ours, ref)
    print(("ok " if ok else "not ok ") + f"{kind} masks, param {mask_param}, p {p}, shape {shape}: identical to torchaudio "
          f"({masked} masked values)")
    failures += 0 if ok else 1


run("freq", 27, 1.0, (8, 1, 128, 400))
run("time", 100, 1.0, (8, 1, 128, 400))
run("time", 100, 0.2, (8, 1, 128, 400))
run("freq", 1, 1.0, (3, 2, 16, 9))
run("time", 50, 1.0, (4, 1, 64, 30))  # mask wider than the clip
sys.exit(1 if failures else 0)
