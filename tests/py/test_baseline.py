"""The baseline CNN in C against the same model in PyTorch (tests/ref/baseline.py), identical weights:
logits, loss, every parameter gradient, BN running statistics after one training forward, and every
parameter after three AdamW steps (torch.optim.AdamW defaults). Bound: max|c - torch| / max|torch| <= 1e-4
per tensor (the measured value is printed); after the AdamW steps, against a float64 run, elements whose
gradient is at float32 noise get Adam's sign-ambiguity bound instead (see below). Dropout is set to 0 in both, since the two draw different
random masks; dropout itself is checked in test_nn_misc.py."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
try:
    import numpy as np
    import torch
    from tests.ref.baseline import BaselineCNN
except ImportError as e:
    print(f"skip baseline parity: {e}")
    sys.exit(0)

DRIVERS = os.environ.get("DRIVERS", "build/tests/drivers")
TOL = 1e-4
failures = 0


def report(name, c, t):
    global failures
    err = float(np.abs(c - t).max() / max(np.abs(t).max(), 1e-30))
    ok = err <= TOL and c.shape == t.shape
    print(("ok " if ok else "not ok ") + f"{name} (rel err {err:.1e})")
    failures += 0 if ok else 1


torch.manual_seed(0)
torch.set_num_threads(2)
N, K, F, T = 8, 10, 64, 96
model = BaselineCNN(K, dropout=0.0)
# non-trivial BN parameters and buffers, so that every term of the formulas matters
with torch.no_grad():
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.weight.uniform_(0.5, 1.5)
            mod.bias.uniform_(-0.2, 0.2)
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.8, 1.2)
x = torch.randn(N, 1, F, T)
y = torch.randint(0, K, (N,))
tmp = tempfile.mkdtemp()
np.save(os.path.join(tmp, "x.npy"), x.numpy())
np.save(os.path.join(tmp, "y.npy"), y.numpy().astype(np.int64))
for name, v in model.state_dict().items():
    np.save(os.path.join(tmp, f"p.{name}.npy"), v.numpy().astype(np.float32))

subprocess.run([os.path.join(DRIVERS, "baseline"), tmp, str(K), "0"], check=True)
load = lambda n: np.load(os.path.join(tmp, n))

model.train()
opt = torch.optim.AdamW(model.parameters())
for step in range(3):
    opt.zero_grad()
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, y)
    loss.backward()
    if step == 0:
        report("logits", load("c.logits.npy"), logits.detach().numpy())
        report("loss", load("c.loss.npy"), loss.detach().numpy())
        for name, p in model.named_parameters():
            report(f"grad {name}", load(f"c.grad.{name}.npy"), p.grad.numpy())
        for name, b in model.named_buffers():
            report(f"after one step {name}", load(f"c.stats.{name}.npy"), b.numpy().astype(np.float32))
    opt.step()
# The same three steps in float64: Adam divides by sqrt(v), so an element whose gradient is within float32
# rounding of zero gets an update of about +-lr whichever way that rounding goes. Such elements (the
# float64 gradient at some step within GRAD_NOISE of its tensor's largest, GRAD_NOISE well above the
# measured gradient errors of 1e-5 and below) are held to the sign-ambiguity bound 2 * lr * steps; every
# other element to TOL. torch's own float32 result is compared with the float64 result too, and printed,
# so the bound can be read against PyTorch's own float32 noise.
GRAD_NOISE, LR, STEPS = 1e-4, 1e-3, 3
model64 = BaselineCNN(K, dropout=0.0).double()
model64.load_state_dict({k: torch.from_numpy(np.load(os.path.join(tmp, f"p.{k}.npy"))).to(v.dtype if v.dtype == torch.int64 else torch.float64)
                         for k, v in model64.state_dict().items()})
model64.train()
opt64 = torch.optim.AdamW(model64.parameters(), lr=LR)
ambiguous = {}
for step in range(STEPS):
    opt64.zero_grad()
    torch.nn.functional.cross_entropy(model64(x.double()), y).backward()
    for name, p in model64.named_parameters():
        g = np.abs(p.grad.numpy())
        a = g <= GRAD_NOISE * max(g.max(), 1e-300)
        ambiguous[name] = a | ambiguous.get(name, False)
    opt64.step()
final32 = {k: v.numpy() for k, v in model.state_dict().items()}
for name, v in model64.state_dict().items():
    t64 = v.numpy().astype(np.float64)
    c = load(f"c.step3.{name}.npy").astype(np.float64)
    scale = max(np.abs(t64).max(), 1e-30)
    amb = ambiguous.get(name, np.zeros(t64.shape, bool))
    d = np.abs(c - t64)
    err_c = (d[~amb].max() if (~amb).any() else 0.0) / scale
    err_amb = d[amb].max() if amb.any() else 0.0
    err_t = np.abs(final32[name] - t64).max() / scale
    ok = err_c <= TOL and err_amb <= 2 * LR * STEPS
    amb_txt = f"; {int(amb.sum())} element(s) with gradients at float32 noise: max |err| {err_amb:.1e} <= {2 * LR * STEPS:.0e}" if amb.any() else ""
    print(("ok " if ok else "not ok ") + f"after 3 AdamW steps {name} (rel err vs float64 {err_c:.1e}; torch float32's own {err_t:.1e}; "
          f"vs torch float32 {np.abs(c - final32[name]).max() / scale:.1e}{amb_txt})")
    failures += 0 if ok else 1
sys.exit(1 if failures else 0)
